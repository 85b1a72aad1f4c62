import { AgentMeshError } from '../errors.js';

/** A governance policy refused a message (before encrypting it, or before handing it out). */
export class PolicyDeniedError extends AgentMeshError {
  readonly direction: 'send' | 'receive';
  readonly reason: string | undefined;
  constructor(direction: 'send' | 'receive', reason?: string, options?: { cause?: unknown }) {
    super('policy_denied', `the ${direction === 'send' ? 'pre-send' : 'post-receive'} policy refused the message${reason ? `: ${reason}` : ''}`, options);
    this.direction = direction;
    this.reason = reason;
  }
}
