import { PreKeyNotFoundError } from '../errors.js';
import type { SignedPreKeyRecord } from '../storage/records.js';

/**
 * Which stored signed pre-keys still count: the live ones, and those an establishment may have
 * used. The store keeps one record per key, so that a one-time key can be deleted alone, in the
 * transaction that uses it; these functions read the records as they are, without a key manager.
 */

/** Signed pre-keys that still answer establishments: the current one, then retained ones newest first. */
export function liveSignedPreKeys(all: readonly SignedPreKeyRecord[], now: number, retentionMs: number): SignedPreKeyRecord[] {
  const current = all.filter((k) => k.retiredAt === null);
  const retained = all
    .filter((k) => k.retiredAt !== null && k.retiredAt >= now - retentionMs)
    .sort((a, b) => (b.retiredAt as number) - (a.retiredAt as number));
  return [...current, ...retained];
}

/**
 * Signed pre-keys to answer an establishment with: the one it names, or (the reference names none)
 * every live one, current first, at most `max`.
 */
export function candidateSignedPreKeys(
  live: readonly SignedPreKeyRecord[],
  named: number | null,
  max: number,
): SignedPreKeyRecord[] {
  if (live.length === 0 || live[0]!.retiredAt !== null) {
    throw new PreKeyNotFoundError('no signed pre-key yet: call rotateSignedPreKey() first');
  }
  if (named === null) return live.slice(0, max);
  const match = live.find((k) => k.keyId === named);
  if (!match) throw new PreKeyNotFoundError(`signed pre-key ${named} is unknown or expired`);
  return [match];
}
