/**
 * Typed errors. Every failure the SDK reports is one of these, so callers can branch on
 * `instanceof` (or on `code`, which survives structured cloning and JSON) instead of messages.
 */
export class AgentMeshError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Bytes or JSON that do not parse as the structure they claim to be. */
export class InvalidMessageError extends AgentMeshError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('invalid_message', message, options);
  }
}

/** A ciphertext, header or associated data that fails AEAD authentication. */
export class AuthenticationError extends AgentMeshError {
  constructor(message = 'message authentication failed') {
    super('authentication_failed', message);
  }
}

/** A message that was already decrypted (or whose key was discarded). */
export class ReplayedMessageError extends AgentMeshError {
  constructor(message: string) {
    super('replayed_message', message);
  }
}

/**
 * A header that names the remote ratchet key we hold while no receiving chain comes from it: the
 * initiator, before the first answer, holds the responder's signed pre-key as the remote key, and
 * no genuine peer sends on that key.
 */
export class NoReceivingChainError extends AgentMeshError {
  readonly messageNumber: number;
  constructor(messageNumber: number) {
    super('no_receiving_chain', `no receiving chain for the ratchet key of message ${messageNumber}: the peer has not sent on that key`);
    this.messageNumber = messageNumber;
  }
}

export class TooManySkippedMessagesError extends AgentMeshError {
  constructor(message: string) {
    super('too_many_skipped', message);
  }
}

/** A public key that is malformed or of low order (its DH output would be all zero). */
export class InvalidKeyError extends AgentMeshError {
  constructor(message: string) {
    super('invalid_key', message);
  }
}

export class InvalidBundleError extends AgentMeshError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('invalid_bundle', message, options);
  }
}

export class InvalidEstablishmentError extends AgentMeshError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('invalid_establishment', message, options);
  }
}

/** A pre-key that is not there: a one-time pre-key unknown or already consumed, a signed pre-key unknown or expired, or none made yet. */
export class PreKeyNotFoundError extends AgentMeshError {
  constructor(message: string) {
    super('prekey_not_found', message);
  }
}

/** A ratchet used in a way its state does not allow (for example sending before any chain exists). */
export class RatchetStateError extends AgentMeshError {
  constructor(message: string) {
    super('invalid_state', message);
  }
}

export class ChannelClosedError extends AgentMeshError {
  constructor(message = 'the channel is closed') {
    super('channel_closed', message);
  }
}

export class InvalidDidError extends AgentMeshError {
  constructor(message: string) {
    super('invalid_did', message);
  }
}

export class InvalidSignatureError extends AgentMeshError {
  constructor(message: string) {
    super('invalid_signature', message);
  }
}
