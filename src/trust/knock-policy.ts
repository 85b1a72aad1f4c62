import type { ChannelConditions } from './channel-conditions.js';
import { TrustConfigError } from './errors.js';
import type { KnockIntent } from './knock-frames.js';
import { assertTrustScore } from './provider.js';

/** What a recipient's policy sees of a KNOCK whose signature and sender key have been verified. */
export interface KnockRequest {
  readonly knockId: string;
  readonly peerDid: string;
  readonly intent: KnockIntent;
  /** The sender's score from the recipient's trust provider; null when unknown. */
  readonly trustScore: number | null;
  /**
   * The sender offered the action envelope, so the channel can carry each message's action and this
   * side can check it. False for an agent that speaks plain AgentMesh v1: a grant that restricts
   * actions is then refused (`action_envelope_required`); only `allowedActions: []` can be granted.
   */
  readonly actionEnvelope: boolean;
}

export type KnockDecision =
  | { readonly accept: true; readonly conditions?: Partial<ChannelConditions> }
  | { readonly accept: false; readonly reason: string };

export type KnockPolicy = (request: KnockRequest) => KnockDecision | Promise<KnockDecision>;

export const DEFAULT_KNOCK_MAX_MESSAGES = 1000;
export const DEFAULT_KNOCK_TTL_SECONDS = 3600;
/** The reason a KNOCK is refused when its grant would restrict actions the sender's messages cannot carry. */
export const ACTION_ENVELOPE_REQUIRED = 'action_envelope_required';

export interface DefaultKnockPolicyOptions {
  /** The recipient's own floor; the intent's `trust_minimum` can only raise it. */
  minTrustScore: number;
  /** What the recipient offers: every capability an intent requires must be here. */
  capabilities?: readonly string[];
  /** When given, actions outside this list are refused. */
  allowedActions?: readonly string[];
  maxMessages?: number;
  ttlSeconds?: number;
  /**
   * What to do with a sender that did not offer the action envelope (an AgentMesh v1 agent), whose
   * messages' actions this side cannot check: `'refuse'` (default) answers `action_envelope_required`;
   * `'any_action'` grants the message and time limits with `allowedActions: []`, trusting the sender
   * to keep to the intent it named.
   */
  withoutEnvelope?: 'refuse' | 'any_action';
}

/**
 * Accepts a KNOCK whose sender scores at least max(own minimum, intent's trust_minimum) and whose
 * required capabilities are all offered; the channel is then limited to the intent's action, which
 * needs the action envelope (see `withoutEnvelope`).
 */
export function defaultKnockPolicy(options: DefaultKnockPolicyOptions): KnockPolicy {
  assertTrustScore(options.minTrustScore, 'minTrustScore');
  const offered = new Set(options.capabilities ?? []);
  const actions = options.allowedActions ? new Set(options.allowedActions) : null;
  const maxMessages = options.maxMessages ?? DEFAULT_KNOCK_MAX_MESSAGES;
  const ttlSeconds = options.ttlSeconds ?? DEFAULT_KNOCK_TTL_SECONDS;
  if (!Number.isInteger(maxMessages) || maxMessages < 1) throw new TrustConfigError('maxMessages must be a positive integer');
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1) throw new TrustConfigError('ttlSeconds must be a positive integer');
  const withoutEnvelope = options.withoutEnvelope ?? 'refuse';
  if (withoutEnvelope !== 'refuse' && withoutEnvelope !== 'any_action') throw new TrustConfigError("withoutEnvelope must be 'refuse' or 'any_action'");
  return (request) => {
    const required = Math.max(options.minTrustScore, request.intent.trustMinimum);
    if (request.trustScore === null || request.trustScore < required) return { accept: false, reason: 'insufficient_trust' };
    if (actions && !actions.has(request.intent.action)) return { accept: false, reason: 'action_not_allowed' };
    if (request.intent.capabilitiesRequired.some((c) => !offered.has(c))) return { accept: false, reason: 'missing_capabilities' };
    if (!request.actionEnvelope && withoutEnvelope === 'refuse') return { accept: false, reason: ACTION_ENVELOPE_REQUIRED };
    const allowedActions = request.actionEnvelope ? [request.intent.action] : [];
    return { accept: true, conditions: { maxMessages, ttlSeconds, allowedActions } };
  };
}
