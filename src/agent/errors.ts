import { AgentMeshError } from '../errors.js';

export class AgentClosedError extends AgentMeshError {
  constructor() {
    super('agent_closed', 'the agent was closed');
  }
}
