import { systemClock, type Clock } from './clock.js';
import { ActionNotAllowedError, ChannelConditionError, TrustConfigError } from './errors.js';
import { TRUST_LIMITS } from './limits.js';

/** What a `knock_accept` grants: the wire's `{ max_messages, ttl_seconds, allowed_actions }`. */
export interface ChannelConditions {
  /** Messages (sent plus received) the channel may carry. */
  readonly maxMessages: number;
  /** Seconds from the acceptance of the KNOCK until the channel stops. */
  readonly ttlSeconds: number;
  /**
   * Actions a message may name: checked on send, and on receive when the channel carries the action
   * envelope (`wire/action-envelope.ts`). Empty means any.
   */
  readonly allowedActions: readonly string[];
}

export interface ChannelConditionsJson {
  max_messages: number;
  ttl_seconds: number;
  allowed_actions: string[];
}

export function checkConditions(c: ChannelConditions): ChannelConditions {
  const int = (v: unknown, name: string, max: number) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) throw new TrustConfigError(`${name} must be an integer from 1 to ${max}`);
  };
  int(c.maxMessages, 'maxMessages', TRUST_LIMITS.maxMessages);
  int(c.ttlSeconds, 'ttlSeconds', TRUST_LIMITS.maxTtlSeconds);
  if (!Array.isArray(c.allowedActions) || c.allowedActions.length > TRUST_LIMITS.maxListItems) {
    throw new TrustConfigError(`allowedActions must be an array of at most ${TRUST_LIMITS.maxListItems} actions`);
  }
  for (const a of c.allowedActions) {
    if (typeof a !== 'string' || a.length === 0 || a.length > TRUST_LIMITS.maxListItemLength) {
      throw new TrustConfigError(`each allowed action must be a string of 1 to ${TRUST_LIMITS.maxListItemLength} characters`);
    }
  }
  return { maxMessages: c.maxMessages, ttlSeconds: c.ttlSeconds, allowedActions: [...c.allowedActions] };
}

export function encodeConditions(c: ChannelConditions): ChannelConditionsJson {
  return { max_messages: c.maxMessages, ttl_seconds: c.ttlSeconds, allowed_actions: [...c.allowedActions] };
}

/**
 * Enforces a KNOCK's conditions on one channel. Both sides count from the moment the KNOCK was
 * accepted (as each saw it), so a grant left unused does not stay good forever.
 */
export class ConditionGuard {
  readonly conditions: ChannelConditions;
  readonly grantedAt: number;
  readonly #now: Clock;

  constructor(conditions: ChannelConditions, grantedAt: number, now: Clock = systemClock) {
    this.conditions = checkConditions(conditions);
    this.grantedAt = grantedAt;
    this.#now = now;
  }

  get expiresAt(): number {
    return this.grantedAt + this.conditions.ttlSeconds * 1000;
  }

  /**
   * Throws `ChannelConditionError` if one more message is past the TTL or the message cap; when
   * sending, also `ActionNotAllowedError` if `intent` is not an allowed action.
   */
  check(messageCount: number, direction: 'send' | 'receive', intent?: string): void {
    if (this.#now() >= this.expiresAt) {
      throw new ChannelConditionError('ttl_seconds', `the channel's ${this.conditions.ttlSeconds} s granted by the KNOCK are over`);
    }
    if (messageCount >= this.conditions.maxMessages) {
      throw new ChannelConditionError('max_messages', `the channel carried the ${this.conditions.maxMessages} messages the KNOCK granted`);
    }
    if (direction === 'send') this.checkAction(intent ?? null, 'send');
  }

  /** Throws `ActionNotAllowedError` unless `action` is allowed (an empty list allows any, and none). */
  checkAction(action: string | null, direction: 'send' | 'receive'): void {
    const allowed = this.conditions.allowedActions;
    if (allowed.length > 0 && (action === null || !allowed.includes(action))) throw new ActionNotAllowedError(direction, action, allowed);
  }
}
