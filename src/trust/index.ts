export {
  ActionNotAllowedError,
  ChannelConditionError,
  InvalidTrustFrameError,
  TrustTransportError,
  TrustConfigError,
  TrustError,
  type ChannelCondition,
  type TrustFailureReason,
} from './errors.js';
export { systemClock, type Clock } from './clock.js';
export { TRUST_LIMITS } from './limits.js';
export { canonicalJson } from './canonical-json.js';
export type { AgentMeshFrame, FrameEnvelope } from './frame.js';
export {
  CompositeTrustProvider,
  MAX_TRUST_SCORE,
  MIN_TRUST_SCORE,
  StaticTrustProvider,
  type ScoreCombination,
  type StaticTrustEntry,
  type TrustProvider,
} from './provider.js';
export { assertKeyBelongsToDid } from './key-binding.js';
export {
  DEFAULT_CHALLENGE_SECONDS,
  responsePayload,
  type HandshakeChallenge,
  type HandshakeResponse,
} from './challenge.js';
export { ChallengeBook, type ChallengeOrigin, type IssuedChallenge } from './challenge-book.js';
export { SeenKnocks } from './seen-knocks.js';
export { DEFAULT_VERIFICATION_TTL_MS, VerificationCache, type PeerVerification } from './verification-cache.js';
export { createInMemoryTransportPair, InMemoryTrustNetwork, type FrameHandler, type TrustTransport } from './transport.js';
export {
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  DEFAULT_MIN_TRUST_SCORE,
  HANDSHAKE_FRAMES,
  TrustHandshake,
  type HandleFrameOptions,
  type SigningIdentity,
  type TrustHandshakeOptions,
} from './handshake.js';
export { frameSignatureValid, signFrame } from './signed-frame.js';
export {
  ConditionGuard,
  type ChannelConditions,
  type ChannelConditionsJson,
} from './channel-conditions.js';
export { KNOCK_FRAMES, type KnockIntent, type KnockIntentJson } from './knock-frames.js';
export {
  ACTION_ENVELOPE_REQUIRED,
  DEFAULT_KNOCK_MAX_MESSAGES,
  DEFAULT_KNOCK_TTL_SECONDS,
  defaultKnockPolicy,
  type DefaultKnockPolicyOptions,
  type KnockDecision,
  type KnockPolicy,
  type KnockRequest,
} from './knock-policy.js';
export {
  DEFAULT_KNOCK_FRESHNESS_MS,
  KnockExchange,
  type KnockExchangeOptions,
  type KnockGrant,
  type KnockOutcome,
} from './knock-exchange.js';
