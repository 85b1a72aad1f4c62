/** Governance hooks, with the shapes of AGENTMESH-FRAMES.md ("Governance hooks"). */

/** Seen before encrypting; refusing stops the message before any key is used. */
export interface SendPolicyContext {
  readonly action: 'agentmesh.send';
  readonly sender: string;
  readonly recipient: string;
  readonly intent: string | null;
  /** How many messages this side sent on the session before this one. */
  readonly message_number: number;
  readonly session_age_seconds: number;
}

/** Seen after decrypting, before the plaintext is handed out. */
export interface ReceivePolicyContext {
  readonly action: 'agentmesh.receive';
  readonly sender: string;
  readonly recipient: string;
  /**
   * Ours: the action the message names inside the action envelope, authenticated (and already
   * checked against the KNOCK); null on a channel without the envelope.
   */
  readonly intent: string | null;
  /** Hex SHA-256 of the plaintext. */
  readonly content_hash: string;
}

/** `true` or `{ allow: true }` allows; anything else refuses (a hook that fails refuses too). */
export type PolicyResult = boolean | { readonly allow: boolean; readonly reason?: string };

export type PolicyHook<C> = (context: C) => PolicyResult | Promise<PolicyResult>;

export type PolicyDecision = 'allow' | 'deny' | 'error';

/** One per send or receive attempt, whatever its outcome. */
export interface AuditEvent {
  readonly event: 'agentmesh.message';
  readonly direction: 'send' | 'receive';
  readonly sender: string;
  readonly recipient: string;
  readonly message_id: string;
  readonly session_id: string;
  readonly policy_decision: PolicyDecision;
  /** ISO-8601. */
  readonly timestamp: string;
  /** Why, when not allowed: the policy's reason or the error's code. */
  readonly reason?: string;
}

/**
 * A sink that fails makes the attempt fail: sends are audited before encryption, so nothing leaves
 * unrecorded; receives after the policy, so nothing is handed out unrecorded.
 */
export type AuditHook = (event: AuditEvent) => void | Promise<void>;

export interface GovernanceHooks {
  preSendPolicy?: PolicyHook<SendPolicyContext>;
  postReceivePolicy?: PolicyHook<ReceivePolicyContext>;
  audit?: AuditHook;
}

/** Runs a policy hook; only an explicit allow allows. */
export async function evaluatePolicy<C>(hook: PolicyHook<C> | undefined, context: C): Promise<{ allow: boolean; reason?: string }> {
  if (!hook) return { allow: true };
  const result = await hook(context);
  if (result === true) return { allow: true };
  if (typeof result === 'object' && result !== null && result.allow === true) return { allow: true };
  const reason = typeof result === 'object' && result !== null && typeof result.reason === 'string' ? result.reason.slice(0, 256) : undefined;
  return reason === undefined ? { allow: false } : { allow: false, reason };
}
