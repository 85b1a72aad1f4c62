export interface BackoffOptions {
  /** First delay (default 500 ms). */
  initialDelayMs?: number;
  /** Ceiling (default 30 s). */
  maxDelayMs?: number;
  /** Growth per attempt (default 2). */
  factor?: number;
  /** Fraction of the delay drawn at random, so many clients do not reconnect in step (default 0.5). */
  jitter?: number;
}

/** Delay before reconnect attempt `attempt` (0-based): exponential, capped, then jittered downwards. */
export function backoffDelay(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const initial = options.initialDelayMs ?? 500;
  const max = options.maxDelayMs ?? 30_000;
  const factor = options.factor ?? 2;
  const jitter = Math.min(1, Math.max(0, options.jitter ?? 0.5));
  const base = Math.min(max, initial * factor ** Math.min(attempt, 64));
  return Math.round(base * (1 - jitter * random()));
}
