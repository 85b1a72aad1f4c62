export {
  EncryptedTrustBridge,
  type EncryptedPeerSession,
  type EncryptedTrustBridgeOptions,
  type TrustCheckOptions,
} from './encrypted-trust-bridge.js';
export { TrustedChannel, type ReceivedMessage, type ReceiveOptions, type SendOptions } from './trusted-channel.js';
export { PolicyDeniedError } from './errors.js';
export type {
  AuditEvent,
  AuditHook,
  GovernanceHooks,
  PolicyDecision,
  PolicyHook,
  PolicyResult,
  ReceivePolicyContext,
  SendPolicyContext,
} from './governance.js';
