export { RegistryError, RelayError, RelayClosedError, RequestAuthError, InvalidFrameError } from './errors.js';
export {
  AUTH_SCHEME,
  AUTH_WINDOW_MS,
  CONNECT_METHOD,
  RequestSigner,
  bodyDigest,
  canonicalRequest,
  checkFreshness,
  parseAuthorization,
  relayPath,
  replayKey,
  verifySignature,
  type ParsedAuthorization,
  type SignatureForm,
} from './signing.js';
export {
  DEFAULT_MAX_FRAME_CHARS,
  FRAME_VERSION,
  RELAY_ADDRESS,
  RELAY_CONTROL_TYPES,
  ROUTED_FRAME_TYPES,
  checkAckFrame,
  checkEnvelope,
  checkRoutedFrame,
  createFrame,
  isRoutedType,
  newFrameId,
  parseFrame,
  type Frame,
  type RoutedFrame,
  type RoutedFrameType,
} from './frames.js';
export {
  decodePreKeyUpload,
  encodePreKeyUpload,
  uploadFromKeyManager,
  type PreKeyUpload,
  type PreKeyUploadJson,
} from './prekey-upload.js';
export { type FetchLike } from './http.js';
export {
  RegistryClient,
  checkBundleBelongsTo,
  type AgentInfo,
  type DiscoveredAgent,
  type InboxPage,
  type PreKeyStatus,
  type Presence,
  type RegistryClientOptions,
} from './registry-client.js';
export { HttpPreKeyStore } from './http-prekey-store.js';
export { backoffDelay, type BackoffOptions } from './backoff.js';
export {
  RelayClient,
  type RelayFrameHandler,
  type OutgoingFrame,
  type RelayClientOptions,
  type RelayEvent,
  type RelayReceipt,
  type RelayState,
  type WebSocketFactory,
  type WebSocketLike,
} from './relay-client.js';
