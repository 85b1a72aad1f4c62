export {
  IdentityMismatchError,
  IdentityNotFoundError,
  SessionExistsError,
  SessionManagerClosedError,
  SessionNotFoundError,
} from './errors.js';
export {
  SessionManager,
  type AcceptOptions,
  type InitiateOptions,
  type OutgoingMessage,
  type RatchetInfo,
  type SessionInfo,
  type SessionManagerOptions,
} from './session-manager.js';
export type { SessionRole } from './session-record.js';
// The in-memory key manager's export form; the root export list has taken it from here since before src/x3dh/prekey-set.ts.
export {
  PRE_KEY_IMPORT_LIMITS,
  type OneTimePreKeyJson,
  type PreKeySetJson,
  type SignedPreKeyJson,
} from '../x3dh/prekey-set.js';
