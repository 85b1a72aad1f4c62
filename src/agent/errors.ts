import { AgentMeshError } from '../errors.js';
import type { SpentAllowance } from './stranger-budget.js';

export class AgentClosedError extends AgentMeshError {
  constructor() {
    super('agent_closed', 'the agent was closed');
  }
}

/**
 * Work a peer asked for (a handshake answer, a handshake for its establishment) that its
 * allowance, or the one all strangers share, could not pay. The frame is dropped and acknowledged.
 */
export class BudgetExceededError extends AgentMeshError {
  readonly peerDid: string;
  /** Which allowance was spent: the peer's own, the strangers' shared one, or the handshakes in flight. */
  readonly allowance: SpentAllowance;
  /** That allowance's size (frames per minute, or handshakes at once). */
  readonly limit: number;

  constructor(peerDid: string, allowance: SpentAllowance, limit: number) {
    const what = { peer: 'its own allowance', strangers: 'the allowance all strangers share', handshakes: 'the handshakes run at once for strangers' }[allowance];
    const unit = allowance === 'handshakes' ? '' : ' frames a minute';
    super('budget_exceeded', `work for ${peerDid} refused: ${what} (${limit}${unit}) is spent`);
    this.peerDid = peerDid;
    this.allowance = allowance;
    this.limit = limit;
  }
}

/** A frame that failed every try (`cause` is the last failure); it is acknowledged and dropped. */
export class DeliveryFailedError extends AgentMeshError {
  readonly tries: number;
  readonly maxTries: number;

  constructor(tries: number, maxTries: number, cause?: unknown) {
    super('delivery_failed', `gave up on the frame after ${tries} tries (at most ${maxTries}): ${(cause as Error)?.message ?? 'unknown failure'}`, { cause });
    this.tries = tries;
    this.maxTries = maxTries;
  }
}
