/**
 * The package root (`agentmesh-e2e`): the application API, named one by one so that every export
 * is a decision (`test/exports.test.ts` pins the list). What the registry and relay service shares
 * with the SDK (frames, request signing, the pre-key upload codec, parser limits) is the
 * `agentmesh-e2e/protocol` sub-path (`src/protocol.ts`); everything else is internal.
 */

// Errors: every failure the SDK reports, each with its stable `code` (these files hold errors only).
export * from './errors.js';
export * from './agent/errors.js';
export * from './bridge/errors.js';
export * from './net/errors.js';
export * from './prekeys/errors.js';
export * from './session/errors.js';
export * from './storage/errors.js';
export * from './trust/errors.js';

// Bytes and text.
export { fromBase64Any, fromHex, toBase64Url, toHex, utf8, fromUtf8, type Bytes } from './encoding.js';

// Crypto providers.
export {
  assertEd25519PublicKey,
  createCryptoProvider,
  getDefaultCryptoProvider,
  isValidEd25519PublicKey,
  setDefaultCryptoProvider,
  webCryptoCurvesSupported,
  CRYPTO_PRESETS,
  type CryptoPreset,
  type CryptoProvider,
  type CryptoProviderOptions,
  type CurveBackend,
  type HashBackend,
  type RandomSource,
  type X25519KeyPair,
} from './crypto/index.js';

// Identity and DIDs.
export { AgentIdentity } from './identity/agent-identity.js';
export {
  DID_PREFIX,
  LEGACY_DID_PREFIX,
  checkDidKey,
  didBelongsToKey,
  didFromPublicKey,
  isValidDid,
  legacyDidFromPublicKey,
  parseDid,
  type ParsedDid,
} from './identity/did.js';

// The tutorial's protocol objects: X3DH, the Double Ratchet, SecureChannel and their codecs.
export { EncryptedMessage, type MessageFrameBody, type MessageHeader } from './wire/encrypted-message.js';
export { decodeBundle, encodeBundle, type BundleJson, type PreKeyBundle } from './x3dh/bundle.js';
export {
  X3DHKeyManager,
  type KeyManagerOptions,
  type OneTimePreKey,
  type SignedPreKey,
  type X3DHResponse,
  type X3DHResult,
  type OneTimePreKeyJson,
  type PreKeySetJson,
  type SignedPreKeyJson,
} from './x3dh/key-manager.js';
export { InMemoryPreKeyStore, type PreKeyStore } from './x3dh/prekey-store.js';
export { DoubleRatchet, type RatchetOptions } from './ratchet/double-ratchet.js';
export {
  DEFAULT_MAX_SKIP,
  DEFAULT_MAX_SKIPPED_KEYS,
  RatchetState,
  type RatchetStateDict,
} from './ratchet/state.js';
export { SecureChannel, type ChannelOptions, type ChannelSnapshot } from './channel/secure-channel.js';
export {
  decodeEstablishment,
  encodeEstablishment,
  type ChannelEstablishment,
  type EstablishmentJson,
} from './channel/establishment.js';

// Trust: providers, transports, the handshake, KNOCK policies, and the trust-gated bridge.
export type { Clock } from './trust/clock.js';
export type { AgentMeshFrame, FrameEnvelope } from './trust/frame.js';
export {
  CompositeTrustProvider,
  MAX_TRUST_SCORE,
  MIN_TRUST_SCORE,
  StaticTrustProvider,
  type ScoreCombination,
  type StaticTrustEntry,
  type TrustProvider,
} from './trust/provider.js';
export type { PeerVerification } from './trust/verification-cache.js';
export { createInMemoryTransportPair, InMemoryTrustNetwork, type FrameHandler, type TrustTransport } from './trust/transport.js';
export { TrustHandshake, type SigningIdentity, type TrustHandshakeOptions } from './trust/handshake.js';
export type { ChannelConditions, ChannelConditionsJson } from './trust/channel-conditions.js';
export type { KnockIntent, KnockIntentJson } from './trust/knock-frames.js';
export {
  defaultKnockPolicy,
  type DefaultKnockPolicyOptions,
  type KnockDecision,
  type KnockPolicy,
  type KnockRequest,
} from './trust/knock-policy.js';
export type { KnockGrant, KnockOutcome } from './trust/knock-exchange.js';
export {
  EncryptedTrustBridge,
  TrustedChannel,
  type AuditEvent,
  type AuditHook,
  type EncryptedPeerSession,
  type EncryptedTrustBridgeOptions,
  type GovernanceHooks,
  type PolicyDecision,
  type PolicyHook,
  type PolicyResult,
  type ReceiveOptions,
  type ReceivePolicyContext,
  type SendOptions,
  type SendPolicyContext,
  type TrustCheckOptions,
} from './bridge/index.js';

// Storage: the store interface, its backends and session locks.
export type {
  IdentityRecord,
  JsonObject,
  JsonValue,
  OneTimePreKeyRecord,
  PreKeyCounters,
  SessionRecord,
  SignedPreKeyRecord,
} from './storage/records.js';
export type { AgentStore, StoreWrite } from './storage/store.js';
export { MemoryAgentStore } from './storage/memory.js';
export { IndexedDBAgentStore, type IndexedDBStoreOptions } from './storage/indexeddb.js';
export {
  DurableObjectAgentStore,
  type DurableObjectKvLike,
  type DurableObjectStorageLike,
  type DurableObjectStoreOptions,
} from './storage/durable-object.js';
export { MutexLocks, WebLocks, type SessionLocks } from './storage/locks.js';

// Persistent sessions.
export {
  SessionManager,
  type AcceptOptions,
  type InitiateOptions,
  type OutgoingMessage,
  type RatchetInfo,
  type SessionInfo,
  type SessionManagerOptions,
  type SessionRole,
} from './session/index.js';

// Pre-keys: the store-backed set an agent publishes, and its upkeep.
export { PreKeyManager, PreKeyUpkeep, type PreKeyManagerOptions, type PreKeyUpkeepOptions, type ResponderPreKeys, type UpkeepResult } from './prekeys/index.js';

// The registry and relay clients.
export type { FetchLike } from './net/http.js';
export type { Frame, RoutedFrame } from './net/frames.js';
export {
  RegistryClient,
  type AgentInfo,
  type DiscoveredAgent,
  type InboxPage,
  type PreKeyStatus,
  type Presence,
  type RegistryClientOptions,
} from './net/registry-client.js';
export { HttpPreKeyStore } from './net/http-prekey-store.js';
export type { BackoffOptions } from './net/backoff.js';
export {
  RelayClient,
  type OutgoingFrame,
  type RelayClientOptions,
  type RelayEvent,
  type RelayFrameHandler,
  type RelayReceipt,
  type RelaySendOptions,
  type RelayState,
  type WebSocketFactory,
  type WebSocketLike,
} from './net/relay-client.js';

// MeshAgent: identity, stores, clients and bridge in one object.
export {
  DEFAULT_STRANGER_BUDGET,
  MAX_DELIVERY_TRIES,
  MeshAgent,
  RegistryTrustProvider,
  RelayTrustTransport,
  type MeshAgentOptions,
  type SpentAllowance,
  type StrangerBudgetOptions,
  type MessageHandler,
  type ReceivedMessage,
  type RejectedFrame,
} from './agent/index.js';
