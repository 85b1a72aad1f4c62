/**
 * `agentmesh-e2e/protocol`: what the registry and relay service shares with the SDK, for a server
 * that speaks to its clients (our `worker/` imports this file). Relay frames (worker/README.md,
 * "Relay frames"), request signatures, the pre-key upload codec and parser limits live here.
 * Applications use the package root (`src/index.ts`), whose clients already speak all of this.
 * `test/exports.test.ts` pins the list.
 */

// Relay frames: the JSON envelope, its checks, and the relay's own address and types.
export {
  DEFAULT_MAX_FRAME_CHARS,
  FRAME_VERSION,
  MAX_FRAME_DEPTH,
  RELAY_ADDRESS,
  RELAY_CONTROL_TYPES,
  ROUTED_FRAME_TYPES,
  checkAckFrame,
  checkEnvelope,
  checkRoutedFrame,
  createFrame,
  isRoutedType,
  isUuid,
  newFrameId,
  parseFrame,
  type Frame,
  type RoutedFrame,
  type RoutedFrameType,
} from './net/frames.js';

// Request signatures: `Authorization: Ed25519-Timestamp …` over method, path, time and body digest.
export {
  AUTH_SCHEME,
  AUTH_WINDOW_MS,
  CONNECT_METHOD,
  RequestSigner,
  bodyDigest,
  canonicalRequest,
  checkFreshness,
  parseAuthorization,
  parseSignature,
  parseTimestamp,
  relayPath,
  replayKey,
  verifySignature,
  type ParsedAuthorization,
  type SignatureForm,
} from './net/signing.js';

// The pre-key upload (`PUT /v1/agents/{did}/prekeys`) and its codec.
export {
  MAX_UPLOAD_ONE_TIME_PRE_KEYS,
  decodePreKeyUpload,
  encodePreKeyUpload,
  uploadFromKeyManager,
  type PreKeyUpload,
  type PreKeyUploadJson,
} from './net/prekey-upload.js';

// Pre-key policy: how long a rotated signed pre-key is kept (the registry keeps it as long), when
// to rotate and top up (src/prekeys/policy.ts says why).
export {
  MAX_ONE_TIME_PRE_KEYS_PER_CALL,
  MIN_ONE_TIME_PRE_KEYS,
  SIGNED_PRE_KEY_MAX_AGE_MS,
  SIGNED_PRE_KEY_RETENTION_MS,
  TARGET_ONE_TIME_PRE_KEYS,
  UPKEEP_INTERVAL_MS,
} from './prekeys/policy.js';

// Limits and bounded readers that both ends apply before they parse.
export { LIMITS } from './wire/limits.js';
export { jsonNestingExceeds } from './wire/json.js';
export { readLimitedBytes } from './net/http.js';

// The canonical JSON that signed trust frames and the edge agent's receipts are signed over.
export { canonicalJson } from './trust/canonical-json.js';
