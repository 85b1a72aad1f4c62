import { AgentMeshError } from '../errors.js';

/** Why a peer was refused. Stable strings: callers branch on them, peers receive them in `trust_result`. */
export type TrustFailureReason =
  /** The peer DID does not parse. */
  | 'invalid_did'
  /** The trust provider scores the peer below the threshold asked (or does not know it). */
  | 'insufficient_trust'
  /** An Ed25519 signature does not verify. */
  | 'bad_signature'
  /** A challenge answered after it expired, or a frame outside the freshness window. */
  | 'expired'
  /** A challenge answered a second time, or a frame id seen before. */
  | 'replayed'
  /** An answer to a challenge this agent never issued. */
  | 'unknown_challenge'
  /** The answer comes from, or names, a DID other than the one challenged. */
  | 'wrong_peer'
  /** A legacy DID whose key the trust provider does not know. */
  | 'unknown_key'
  /** A key that does not belong to the DID presenting it. */
  | 'did_key_mismatch'
  /** A key that is no usable Ed25519 key: small order, a small-order component, or not canonical. */
  | 'invalid_key'
  /** The peer's frame does not parse. */
  | 'malformed'
  /** The peer could not be reached, or did not answer in time. */
  | 'transport'
  /** The peer verified us and refused (its reason is in `peerReason`). */
  | 'peer_refused'
  /** The trust provider failed or returned a value outside 0–1000. */
  | 'provider_error'
  /** Too many challenges (or KNOCKs) outstanding; try again later. */
  | 'busy'
  /** The agent accepts channels only under a KNOCK it accepted, and there is none. */
  | 'knock_required';

/** A peer that failed trust verification. Thrown before any key exchange work happens. */
export class TrustError extends AgentMeshError {
  readonly reason: TrustFailureReason;
  readonly peerDid: string | undefined;
  /** With `peer_refused`: the reason the peer gave. */
  readonly peerReason: string | undefined;

  constructor(
    reason: TrustFailureReason,
    message: string,
    options: { peerDid?: string; peerReason?: string; cause?: unknown } = {},
  ) {
    super('trust_failed', message, options.cause === undefined ? undefined : { cause: options.cause });
    this.reason = reason;
    this.peerDid = options.peerDid;
    this.peerReason = options.peerReason;
  }
}

/**
 * A frame (handshake or KNOCK) that does not have the shape its type requires. Its code is not the
 * relay's `invalid_frame` (`InvalidFrameError`), so a caller branching on `code` can tell them apart.
 */
export class InvalidTrustFrameError extends AgentMeshError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('invalid_trust_frame', message, options);
  }
}

/** The transport could not deliver a frame or bring back an answer. */
export class TrustTransportError extends AgentMeshError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('transport_error', message, options);
  }
}

/** Options that cannot work (a threshold outside 0–1000, a negative TTL, …). */
export class TrustConfigError extends AgentMeshError {
  constructor(message: string) {
    super('invalid_config', message);
  }
}

/** Which KNOCK condition a channel ran past. */
export type ChannelCondition = 'max_messages' | 'ttl_seconds' | 'allowed_actions';

/** A channel opened under a KNOCK used past its conditions. */
export class ChannelConditionError extends AgentMeshError {
  readonly condition: ChannelCondition;
  /** `code` is for subclasses, which have codes of their own. */
  constructor(condition: ChannelCondition, message: string, subclass?: { code: string }) {
    super(typeof subclass === 'object' && subclass !== null ? subclass.code : 'channel_condition', message);
    this.condition = condition;
  }
}

/**
 * A message whose action the KNOCK did not allow: refused before it is sent, or, on a channel that
 * carries the action envelope, after it authenticated and before the session changed.
 */
export class ActionNotAllowedError extends ChannelConditionError {
  readonly direction: 'send' | 'receive';
  /** The action the message named; null when it named none. */
  readonly action: string | null;
  readonly allowedActions: readonly string[];
  constructor(direction: 'send' | 'receive', action: string | null, allowedActions: readonly string[]) {
    const allowed = Array.isArray(allowedActions) ? [...allowedActions] : [];
    const named = action === null ? 'a message naming no action' : `action ${JSON.stringify(String(action).slice(0, 256))}`;
    super('allowed_actions', `${named} is not in the KNOCK's allowed_actions (${allowed.length} listed)`, { code: 'action_not_allowed' });
    this.direction = direction;
    this.action = action;
    this.allowedActions = allowed;
  }
}
