export { AgentClosedError } from './errors.js';
export { MeshAgent, type MeshAgentOptions, type MessageHandler, type ReceivedMessage, type RejectedFrame } from './mesh-agent.js';
export { RegistryTrustProvider } from './registry-trust-provider.js';
export { RelayTrustTransport } from './relay-trust-transport.js';
