/**
 * One asserter per option shape (as noble's `abytes`), used where options enter: a caller's
 * mistake is a RangeError that names the option and its bounds, thrown before anything starts.
 * Bounds that a parser applies when it reads a value back are the same here (`RatchetState`).
 */

/** An integer option from `min` to `max`, or absent. */
export function checkIntegerOption(name: string, value: number | undefined, min: number, max: number): void {
  if (value === undefined) return;
  if (!Number.isInteger(value) || value < min || value > max) throw new RangeError(`${name} must be an integer from ${min} to ${max} (got ${String(value)})`);
}

/** Longest duration any option takes: about 24.8 days, the most `setTimeout` waits. */
export const MAX_DURATION_MS = 2 ** 31 - 1;

/** A duration in milliseconds, at least `min` (0 may mean "off" where the option says so), or absent. */
export function checkDurationOption(name: string, value: number | undefined, min = 1): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > MAX_DURATION_MS) {
    throw new RangeError(`${name} must be a duration from ${min} to ${MAX_DURATION_MS} ms (got ${String(value)})`);
  }
}
