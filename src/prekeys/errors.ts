import { AgentMeshError } from '../errors.js';

/** The pre-key manager was closed with the session manager that holds it; its identity is gone. */
export class PreKeysClosedError extends AgentMeshError {
  constructor() {
    super('prekeys_closed', 'the pre-key manager is closed');
  }
}
