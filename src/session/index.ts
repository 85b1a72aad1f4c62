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
// The key manager's export form, which sessions persist through (src/index.ts predates it).
export {
  PRE_KEY_IMPORT_LIMITS,
  type OneTimePreKeyJson,
  type PreKeySetJson,
  type SignedPreKeyJson,
} from '../x3dh/key-manager.js';
