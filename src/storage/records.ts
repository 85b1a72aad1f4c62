import { copyBytes, type Bytes } from '../encoding.js';

/**
 * What an agent keeps, as plain values. Storage sits below the protocol, so it knows these only as
 * shapes: key bytes it can copy and zero, and opaque JSON for channel state, metadata and trust.
 */

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export const STORAGE_LIMITS = {
  maxDidLength: 256,
  /** Deepest nesting accepted in stored JSON. */
  maxJsonDepth: 32,
  /** A ratchet state with 2000 skipped keys is about 300 KB; leave room for larger skip windows. */
  maxChannelJsonChars: 8 * 1024 * 1024,
  maxMetadataJsonChars: 64 * 1024,
  maxTrustJsonChars: 64 * 1024,
} as const;

/** The agent's long-term Ed25519 identity. */
export interface IdentityRecord {
  readonly did: string;
  readonly publicKey: Bytes;
  /** Secret: the 32-byte Ed25519 seed. */
  readonly seed: Bytes;
  readonly createdAt: number;
}

/** A signed pre-key; `retiredAt` is null for the current one and the rotation time for retained ones. */
export interface SignedPreKeyRecord {
  readonly keyId: number;
  readonly publicKey: Bytes;
  /** Secret. */
  readonly privateKey: Bytes;
  readonly signature: Bytes;
  readonly createdAt: number;
  readonly retiredAt: number | null;
}

export interface OneTimePreKeyRecord {
  readonly keyId: number;
  readonly publicKey: Bytes;
  /** Secret. */
  readonly privateKey: Bytes;
}

/** The next ids to hand out, so that an id is never reused after its key was consumed or pruned. */
export interface PreKeyCounters {
  readonly nextSignedPreKeyId: number;
  readonly nextOneTimePreKeyId: number;
}

export const INITIAL_COUNTERS: PreKeyCounters = { nextSignedPreKeyId: 0, nextOneTimePreKeyId: 0 };

/** One session per peer. */
export interface SessionRecord {
  readonly peerDid: string;
  /** Bumped by every committed write; a write names the revision it read (optimistic concurrency). */
  readonly revision: number;
  /** Secret: the channel state (ratchet keys). Opaque to storage. */
  readonly channel: JsonValue;
  /** Not secret: role, establishment, associated data and the like. */
  readonly metadata: JsonObject;
  /** The trust result, opaque to storage; null when there is none. */
  readonly trust: JsonValue;
  readonly createdAt: number;
  readonly updatedAt: number;
}

type Fail = (message: string) => Error;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Checks that `value` is plain JSON within `maxChars` (its serialized length, counted while walking so
 * a huge value is refused early) and `maxDepth`, and returns a deep copy.
 */
export function checkJson(value: unknown, fail: Fail, what: string, maxChars: number, maxDepth: number = STORAGE_LIMITS.maxJsonDepth): JsonValue {
  let budget = maxChars;
  const spend = (n: number) => {
    budget -= n;
    if (budget < 0) throw fail(`${what} is larger than ${maxChars} characters of JSON`);
  };
  const walk = (v: unknown, depth: number): JsonValue => {
    if (depth > maxDepth) throw fail(`${what} is nested deeper than ${maxDepth} levels`);
    if (v === null) return spend(4), null;
    switch (typeof v) {
      case 'boolean':
        spend(5);
        return v;
      case 'number':
        if (!Number.isFinite(v)) throw fail(`${what} holds a number JSON cannot carry`);
        spend(24);
        return v;
      case 'string':
        spend(v.length + 2);
        return v;
      case 'object': {
        if (Array.isArray(v)) {
          spend(2);
          return v.map((item) => (spend(1), walk(item, depth + 1)));
        }
        if (!isPlainObject(v)) throw fail(`${what} holds a value that is not plain JSON`);
        spend(2);
        const out: JsonObject = {};
        for (const [k, item] of Object.entries(v)) {
          spend(k.length + 4);
          if (item === undefined) continue;
          out[k] = walk(item, depth + 1);
        }
        return out;
      }
      default:
        throw fail(`${what} holds a ${typeof v}, which JSON cannot carry`);
    }
  };
  return walk(value, 0);
}

export function checkJsonObject(value: unknown, fail: Fail, what: string, maxChars: number): JsonObject {
  if (!isPlainObject(value)) throw fail(`${what} must be a JSON object`);
  return checkJson(value, fail, what, maxChars) as JsonObject;
}

function asObject(value: unknown, fail: Fail, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw fail(`${what} must be an object`);
  return value as Record<string, unknown>;
}

function bytes(r: Record<string, unknown>, field: string, length: number, fail: Fail, what: string): Bytes {
  const v = r[field];
  if (!(v instanceof Uint8Array) || v.length !== length) throw fail(`${what}.${field} must be ${length} bytes`);
  return copyBytes(v);
}

export function checkKeyId(v: unknown, fail: Fail, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) throw fail(`${what} must be a uint32`);
  return v;
}

function time(r: Record<string, unknown>, field: string, fail: Fail, what: string, nullable = false): number | null {
  const v = r[field];
  if (v === null && nullable) return null;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw fail(`${what}.${field} must be a time in ms`);
  return v;
}

export function checkDidString(v: unknown, fail: Fail, what: string): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > STORAGE_LIMITS.maxDidLength) {
    throw fail(`${what} must be a DID of 1 to ${STORAGE_LIMITS.maxDidLength} characters`);
  }
  return v;
}

export function checkIdentityRecord(value: unknown, fail: Fail): IdentityRecord {
  const r = asObject(value, fail, 'identity');
  return {
    did: checkDidString(r.did, fail, 'identity.did'),
    publicKey: bytes(r, 'publicKey', 32, fail, 'identity'),
    seed: bytes(r, 'seed', 32, fail, 'identity'),
    createdAt: time(r, 'createdAt', fail, 'identity')!,
  };
}

export function checkSignedPreKeyRecord(value: unknown, fail: Fail): SignedPreKeyRecord {
  const r = asObject(value, fail, 'signed pre-key');
  return {
    keyId: checkKeyId(r.keyId, fail, 'signed pre-key id'),
    publicKey: bytes(r, 'publicKey', 32, fail, 'signed pre-key'),
    privateKey: bytes(r, 'privateKey', 32, fail, 'signed pre-key'),
    signature: bytes(r, 'signature', 64, fail, 'signed pre-key'),
    createdAt: time(r, 'createdAt', fail, 'signed pre-key')!,
    retiredAt: time(r, 'retiredAt', fail, 'signed pre-key', true),
  };
}

export function checkOneTimePreKeyRecord(value: unknown, fail: Fail): OneTimePreKeyRecord {
  const r = asObject(value, fail, 'one-time pre-key');
  return {
    keyId: checkKeyId(r.keyId, fail, 'one-time pre-key id'),
    publicKey: bytes(r, 'publicKey', 32, fail, 'one-time pre-key'),
    privateKey: bytes(r, 'privateKey', 32, fail, 'one-time pre-key'),
  };
}

export function checkCounters(value: unknown, fail: Fail): PreKeyCounters {
  const r = asObject(value, fail, 'pre-key counters');
  const next = (field: string) => {
    const v = r[field];
    // One past the largest uint32 id: every id has been handed out.
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0x100000000) throw fail(`pre-key counters.${field} must be an id counter`);
    return v;
  };
  return { nextSignedPreKeyId: next('nextSignedPreKeyId'), nextOneTimePreKeyId: next('nextOneTimePreKeyId') };
}

export function checkRevision(v: unknown, fail: Fail, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw fail(`${what} must be a positive integer`);
  return v;
}

/** The clear (non-secret) fields of a session record. */
export function checkSessionHead(value: unknown, fail: Fail): Omit<SessionRecord, 'channel'> {
  const r = asObject(value, fail, 'session');
  return {
    peerDid: checkDidString(r.peerDid, fail, 'session.peerDid'),
    revision: checkRevision(r.revision, fail, 'session.revision'),
    metadata: checkJsonObject(r.metadata, fail, 'session.metadata', STORAGE_LIMITS.maxMetadataJsonChars),
    trust: checkJson(r.trust === undefined ? null : r.trust, fail, 'session.trust', STORAGE_LIMITS.maxTrustJsonChars),
    createdAt: time(r, 'createdAt', fail, 'session')!,
    updatedAt: time(r, 'updatedAt', fail, 'session')!,
  };
}

export function checkSessionRecord(value: unknown, fail: Fail): SessionRecord {
  const head = checkSessionHead(value, fail);
  const channel = checkJson((value as Record<string, unknown>).channel, fail, 'session.channel', STORAGE_LIMITS.maxChannelJsonChars);
  return { ...head, channel };
}

/** Zeroes the secret bytes (`seed`, `privateKey`) of a record the caller is done with; other values are left alone. */
export function wipeRecord(record: unknown): void {
  if (typeof record !== 'object' || record === null) return;
  for (const field of ['seed', 'privateKey']) {
    const v = (record as Record<string, unknown>)[field];
    if (v instanceof Uint8Array) v.fill(0);
  }
}
