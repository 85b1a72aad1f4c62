import type { X25519KeyPair } from '../crypto/index.js';
import { fromBase64Any, toBase64Url, type Bytes } from '../encoding.js';
import { InvalidKeyError } from '../errors.js';

/**
 * The key manager's pre-keys: their in-memory shapes and the JSON export form that
 * `X3DHKeyManager.exportPreKeys`/`importPreKeys` write and read. Checking keys against the identity
 * is the key manager's part; this file only shapes and parses.
 */

export interface SignedPreKey {
  readonly keyId: number;
  readonly keyPair: X25519KeyPair;
  /** Ed25519 over exactly the 32 raw bytes of the public key. */
  readonly signature: Bytes;
  readonly createdAt: number;
}

export interface OneTimePreKey {
  readonly keyId: number;
  readonly keyPair: X25519KeyPair;
}

/** A signed pre-key in `exportPreKeys()` form; `retired_at` is null for the current one. Secret. */
export interface SignedPreKeyJson {
  key_id: number;
  public_key: string;
  private_key: string;
  signature: string;
  created_at: number;
  retired_at: number | null;
}

/** A one-time pre-key in `exportPreKeys()` form. Secret. */
export interface OneTimePreKeyJson {
  key_id: number;
  public_key: string;
  private_key: string;
}

/**
 * Every pre-key a manager holds, private halves included (byte fields base64url without padding),
 * and the next ids it will hand out. Secret: store it wrapped.
 */
export interface PreKeySetJson {
  version: 1;
  signed_pre_keys: SignedPreKeyJson[];
  one_time_pre_keys: OneTimePreKeyJson[];
  next_signed_pre_key_id: number;
  next_one_time_pre_key_id: number;
}

/** Most keys `importPreKeys` accepts (a parser limit, far above what rotation and top-ups keep). */
export const PRE_KEY_IMPORT_LIMITS = { maxSignedPreKeys: 1000, maxOneTimePreKeys: 100_000 } as const;

/** The export form of a key manager's pre-keys (`retiredAt` null for the current signed pre-key). */
export function encodePreKeySet(
  signed: readonly { key: SignedPreKey; retiredAt: number | null }[],
  oneTime: Iterable<OneTimePreKey>,
  next: { signed: number; oneTime: number },
): PreKeySetJson {
  return {
    version: 1,
    signed_pre_keys: signed.map(({ key, retiredAt }) => ({
      key_id: key.keyId,
      public_key: toBase64Url(key.keyPair.publicKey),
      private_key: toBase64Url(key.keyPair.privateKey),
      signature: toBase64Url(key.signature),
      created_at: key.createdAt,
      retired_at: retiredAt,
    })),
    one_time_pre_keys: [...oneTime].map((k) => ({
      key_id: k.keyId,
      public_key: toBase64Url(k.keyPair.publicKey),
      private_key: toBase64Url(k.keyPair.privateKey),
    })),
    next_signed_pre_key_id: next.signed,
    next_one_time_pre_key_id: next.oneTime,
  };
}

/** Parses (without verifying keys) the `exportPreKeys()` form; throws `InvalidKeyError`, keeping nothing it decoded. */
export function parsePreKeySet(input: unknown): {
  signed: { key: SignedPreKey; retiredAt: number | null }[];
  oneTime: OneTimePreKey[];
  nextSignedPreKeyId: number;
  nextOneTimePreKeyId: number;
} {
  const fail = (message: string) => new InvalidKeyError(`invalid pre-key export: ${message}`);
  const decoded: Bytes[] = [];
  const record = (v: unknown, what: string): Record<string, unknown> => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw fail(`${what} must be an object`);
    return v as Record<string, unknown>;
  };
  const bytes = (r: Record<string, unknown>, field: string, length: number, what: string): Bytes => {
    const v = r[field];
    // base64 of `length` bytes is at most 4 * ceil(length / 3) characters (with padding).
    if (typeof v !== 'string' || v.length > 4 * Math.ceil(length / 3)) throw fail(`${what}.${field} must be base64 of ${length} bytes`);
    let out: Bytes;
    try {
      out = fromBase64Any(v);
    } catch {
      throw fail(`${what}.${field} is not base64`);
    }
    decoded.push(out);
    if (out.length !== length) throw fail(`${what}.${field} must be ${length} bytes`);
    return out;
  };
  const id = (v: unknown, what: string): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) throw fail(`${what} must be a uint32`);
    return v;
  };
  const time = (v: unknown, what: string): number => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw fail(`${what} must be a time in ms`);
    return v;
  };
  const counter = (v: unknown, what: string): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0x100000000) throw fail(`${what} must be an id counter`);
    return v;
  };
  try {
    const r = record(input, 'the export');
    if (r.version !== 1) throw fail(`unsupported version ${typeof r.version === 'number' ? r.version : typeof r.version}`);
    const signedIn = r.signed_pre_keys;
    const oneTimeIn = r.one_time_pre_keys;
    if (!Array.isArray(signedIn) || signedIn.length > PRE_KEY_IMPORT_LIMITS.maxSignedPreKeys) {
      throw fail(`signed_pre_keys must be an array of at most ${PRE_KEY_IMPORT_LIMITS.maxSignedPreKeys}`);
    }
    if (!Array.isArray(oneTimeIn) || oneTimeIn.length > PRE_KEY_IMPORT_LIMITS.maxOneTimePreKeys) {
      throw fail(`one_time_pre_keys must be an array of at most ${PRE_KEY_IMPORT_LIMITS.maxOneTimePreKeys}`);
    }
    const signed = signedIn.map((v, i) => {
      const s = record(v, `signed_pre_keys[${i}]`);
      const what = `signed_pre_keys[${i}]`;
      const retiredAt = s.retired_at === null ? null : time(s.retired_at, `${what}.retired_at`);
      const key: SignedPreKey = {
        keyId: id(s.key_id, `${what}.key_id`),
        keyPair: { publicKey: bytes(s, 'public_key', 32, what), privateKey: bytes(s, 'private_key', 32, what) },
        signature: bytes(s, 'signature', 64, what),
        createdAt: time(s.created_at, `${what}.created_at`),
      };
      return { key, retiredAt };
    });
    const oneTime = oneTimeIn.map((v, i): OneTimePreKey => {
      const o = record(v, `one_time_pre_keys[${i}]`);
      const what = `one_time_pre_keys[${i}]`;
      return {
        keyId: id(o.key_id, `${what}.key_id`),
        keyPair: { publicKey: bytes(o, 'public_key', 32, what), privateKey: bytes(o, 'private_key', 32, what) },
      };
    });
    if (signed.filter((s) => s.retiredAt === null).length > 1) throw fail('more than one current signed pre-key (retired_at null)');
    if (signed.length > 0 && !signed.some((s) => s.retiredAt === null)) throw fail('retained signed pre-keys without a current one');
    const unique = (ids: number[], what: string) => {
      if (new Set(ids).size !== ids.length) throw fail(`duplicate ${what} ids`);
    };
    unique(signed.map((s) => s.key.keyId), 'signed pre-key');
    unique(oneTime.map((k) => k.keyId), 'one-time pre-key');
    const nextSignedPreKeyId = counter(r.next_signed_pre_key_id, 'next_signed_pre_key_id');
    const nextOneTimePreKeyId = counter(r.next_one_time_pre_key_id, 'next_one_time_pre_key_id');
    // An id at or past the counter would be handed out a second time: refuse rather than reuse a key id.
    if (signed.some((s) => s.key.keyId >= nextSignedPreKeyId)) throw fail('a signed pre-key id is not below next_signed_pre_key_id');
    if (oneTime.some((k) => k.keyId >= nextOneTimePreKeyId)) throw fail('a one-time pre-key id is not below next_one_time_pre_key_id');
    return { signed, oneTime, nextSignedPreKeyId, nextOneTimePreKeyId };
  } catch (error) {
    for (const b of decoded) b.fill(0);
    throw error;
  }
}
