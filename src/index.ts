export * from './errors.js';
export { fromBase64Any, fromHex, toBase64Url, toHex, utf8, fromUtf8, type Bytes } from './encoding.js';
export {
  createCryptoProvider,
  getDefaultCryptoProvider,
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
export { LIMITS } from './wire/limits.js';
export { EncryptedMessage, encodeHeader, type MessageFrameBody, type MessageHeader } from './wire/encrypted-message.js';
export { decodeBundle, encodeBundle, type BundleJson, type PreKeyBundle } from './x3dh/bundle.js';
export {
  X3DHKeyManager,
  type KeyManagerOptions,
  type OneTimePreKey,
  type SignedPreKey,
  type X3DHResponse,
  type X3DHResult,
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
export * from './trust/index.js';
export * from './bridge/index.js';
export * from './storage/index.js';
export * from './net/index.js';
export * from './prekeys/index.js';
export * from './session/index.js';
export * from './agent/index.js';
