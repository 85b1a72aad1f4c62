import { AgentMeshError } from '../errors.js';

/**
 * Errors of the network layer. Each carries the registry's or relay's machine-readable `code`
 * (the `error` field of `{ error, message }`) so callers can branch without parsing messages.
 */

/** A registry request that failed: an HTTP error answer (`status` > 0) or no answer at all (`status` 0). */
export class RegistryError extends AgentMeshError {
  readonly status: number;
  /** Seconds the server asked us to wait (429), when it said. */
  readonly retryAfterSeconds: number | null;
  constructor(status: number, code: string, message: string, options: { cause?: unknown; retryAfterSeconds?: number | null } = {}) {
    super(code, message, { cause: options.cause });
    this.status = status;
    this.retryAfterSeconds = options.retryAfterSeconds ?? null;
  }
}

/** The relay refused a frame or the connection (`code` is the relay's error code). */
export class RelayError extends AgentMeshError {
  /** The id of the frame the relay refused, when it names one. */
  readonly refId: string | null;
  constructor(code: string, message: string, options: { cause?: unknown; refId?: string | null } = {}) {
    super(code, message, { cause: options.cause });
    this.refId = options.refId ?? null;
  }
}

/** The relay client was closed while an operation waited on it. */
export class RelayClosedError extends AgentMeshError {
  constructor(message = 'the relay client is closed') {
    super('relay_closed', message);
  }
}

/** An `Authorization: Ed25519-Timestamp …` header that is malformed, stale, replayed or wrongly signed. */
export class RequestAuthError extends AgentMeshError {
  constructor(code: string, message: string) {
    super(code, message);
  }
}

/** A relay frame (JSON envelope) that does not parse or lacks what its type requires. */
export class InvalidFrameError extends AgentMeshError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('invalid_frame', message, options);
  }
}
