export { AgentClosedError, BudgetExceededError, DeliveryFailedError } from './errors.js';
export { MAX_DELIVERY_TRIES } from './delivery-tries.js';
export { DEFAULT_STRANGER_BUDGET, type SpentAllowance, type StrangerBudgetOptions } from './stranger-budget.js';
export { MeshAgent, type MeshAgentOptions, type MessageHandler, type ReceivedMessage, type RejectedFrame } from './mesh-agent.js';
export { RegistryTrustProvider } from './registry-trust-provider.js';
export { RelayTrustTransport } from './relay-trust-transport.js';
