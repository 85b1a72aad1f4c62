import { fromBase64Any, toBase64Url } from '../encoding.js';
import type { OneTimePreKeyRecord, PreKeyCounters, SignedPreKeyRecord } from '../storage/records.js';
import type { OneTimePreKeyJson, PreKeySetJson, SignedPreKeyJson } from '../x3dh/key-manager.js';

/**
 * Stored pre-key records ↔ the key manager's `exportPreKeys()` form. The store keeps one record per
 * key (so a one-time key can be deleted alone, in the transaction that uses it); the key manager
 * takes and gives the whole set.
 */

export function signedToJson(r: SignedPreKeyRecord, retiredAt: number | null = r.retiredAt): SignedPreKeyJson {
  return {
    key_id: r.keyId,
    public_key: toBase64Url(r.publicKey),
    private_key: toBase64Url(r.privateKey),
    signature: toBase64Url(r.signature),
    created_at: r.createdAt,
    retired_at: retiredAt,
  };
}

export function oneTimeToJson(r: OneTimePreKeyRecord): OneTimePreKeyJson {
  return { key_id: r.keyId, public_key: toBase64Url(r.publicKey), private_key: toBase64Url(r.privateKey) };
}

export function signedFromJson(j: SignedPreKeyJson): SignedPreKeyRecord {
  return {
    keyId: j.key_id,
    publicKey: fromBase64Any(j.public_key),
    privateKey: fromBase64Any(j.private_key),
    signature: fromBase64Any(j.signature),
    createdAt: j.created_at,
    retiredAt: j.retired_at,
  };
}

export function oneTimeFromJson(j: OneTimePreKeyJson): OneTimePreKeyRecord {
  return { keyId: j.key_id, publicKey: fromBase64Any(j.public_key), privateKey: fromBase64Any(j.private_key) };
}

/** A pre-key set for a key manager; the counters are lifted past every id present so the set is consistent. */
export function preKeySet(
  signed: readonly SignedPreKeyJson[],
  oneTime: readonly OneTimePreKeyJson[],
  counters: PreKeyCounters,
): PreKeySetJson {
  const past = (ids: number[], floor: number) => Math.max(floor, ...ids.map((id) => id + 1));
  return {
    version: 1,
    signed_pre_keys: [...signed],
    one_time_pre_keys: [...oneTime],
    next_signed_pre_key_id: past(signed.map((k) => k.key_id), counters.nextSignedPreKeyId),
    next_one_time_pre_key_id: past(oneTime.map((k) => k.key_id), counters.nextOneTimePreKeyId),
  };
}

/** Signed pre-keys that still answer establishments: the current one, then retained ones newest first. */
export function liveSignedPreKeys(all: readonly SignedPreKeyRecord[], now: number, retentionMs: number): SignedPreKeyRecord[] {
  const current = all.filter((k) => k.retiredAt === null);
  const retained = all
    .filter((k) => k.retiredAt !== null && k.retiredAt >= now - retentionMs)
    .sort((a, b) => (b.retiredAt as number) - (a.retiredAt as number));
  return [...current, ...retained];
}
