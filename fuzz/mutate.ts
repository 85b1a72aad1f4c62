/**
 * Input generators for the parser fuzzer: random bytes, text and JSON, hostile values, and
 * mutations of valid samples (bytes, JSON structure, JSON text). Everything draws from an `Rng`,
 * so an input is a function of (seed, index).
 */
import { concatBytes } from '../src/encoding.js';
import type { Rng } from './rng.js';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const ALPHABETS = [
  'abcdefghijklmnopqrstuvwxyz',
  'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_',
  'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=',
  '0123456789abcdef',
  '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz',
  ' \t\r\n{}[]":,\\/=+-._:0123456789eE',
  '\u0000\u0001\u007f\u0080\u00ff\u2028\u2029\ufeff\ud800\udc00\uffff\u{1f600}é',
];

export function randomText(rng: Rng, max = 200): string {
  const alphabet = rng.pick(ALPHABETS);
  const chars = [...alphabet];
  let out = '';
  for (let i = 0, n = rng.size(max); i < n; i++) out += rng.pick(chars);
  return out;
}

export function randomJson(rng: Rng, depth = 3): Json {
  const r = rng.int(depth > 0 ? 8 : 5);
  switch (r) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return rng.pick([0, -1, 1, 0.5, -0.5, 2 ** 31, 2 ** 32, 2 ** 53, -(2 ** 53), 1e21, 1e308, 5e-324, rng.u32(), rng.int(100)]);
    case 3:
    case 4:
      return randomText(rng, 60);
    case 5:
    case 6: {
      const out: Json[] = [];
      for (let i = 0, n = rng.size(8); i < n; i++) out.push(randomJson(rng, depth - 1));
      return out;
    }
    default: {
      const out: { [k: string]: Json } = {};
      for (let i = 0, n = rng.size(8); i < n; i++) put(out, rng.chance(0.3) ? rng.pick(FIELD_NAMES) : randomText(rng, 12), randomJson(rng, depth - 1));
      return out;
    }
  }
}

/** Field names our formats use, so random objects sometimes look almost right. */
export const FIELD_NAMES = [
  'v', 'type', 'from', 'to', 'id', 'ts', 'header', 'dh', 'pn', 'n', 'ciphertext', 'x3dh', 'identity_key', 'identity_key_ed',
  'ephemeral_key', 'used_opk_id', 'spk_id', 'signed_pre_key', 'one_time_pre_key', 'one_time_pre_keys', 'key_id', 'public_key',
  'signature', 'intent', 'action', 'description', 'capabilities_required', 'trust_minimum', 'knock_id', 'conditions',
  'max_messages', 'ttl_seconds', 'allowed_actions', 'reason', 'challenge', 'challenge_id', 'nonce', 'timestamp',
  'expires_in_seconds', 'response', 'response_nonce', 'agent_did', 'verified', 'ack_id', 'auth', 'supported_versions',
  'dh_self_private', 'dh_self_public', 'dh_remote_public', 'root_key', 'chain_key_send', 'chain_key_recv',
  'send_message_number', 'recv_message_number', 'previous_send_chain_length', 'skipped_keys', 'max_skip', 'max_skipped_keys',
  'version', 'channels', 'associated_data', 'local_identity_key', 'remote_identity_key', 'message_count', 'state', 'role',
  'peer_identity_key', 'peer_identity_key_ed', 'establishment', 'accepted_ephemeral_key', 'signed_pre_keys', 'private_key',
  'created_at', 'retired_at', 'next_signed_pre_key_id', 'next_one_time_pre_key_id', 'frames', 'next', 'agents', 'did',
  'trust_score', 'reputation', 'votes', 'online', 'last_seen', '__proto__', 'constructor', 'toString', 'toJSON', 'valueOf',
];

/** Nested arrays or objects, `depth` levels deep, built without recursion. */
export function deepValue(depth: number, kind: 'array' | 'object', leaf: Json = 1): Json {
  let v: Json = leaf;
  for (let i = 0; i < depth; i++) v = kind === 'array' ? [v] : { a: v };
  return v;
}

/** The JSON text of `deepValue`, built without recursion (JSON.stringify would overflow the stack). */
export function deepText(depth: number, kind: 'array' | 'object', leaf = '1'): string {
  return kind === 'array' ? '['.repeat(depth) + leaf + ']'.repeat(depth) : '{"a":'.repeat(depth) + leaf + '}'.repeat(depth);
}

/** Values that have broken parsers somewhere: edge numbers, odd strings, deep and wide structures. */
export function hostileValue(rng: Rng, allowNonJson: boolean): unknown {
  const r = rng.int(allowNonJson ? 30 : 26);
  switch (r) {
    case 0:
      return null;
    case 1:
      return rng.pick([true, false]);
    case 2:
      return rng.pick([0, -1, 1.5, 2 ** 32, 2 ** 32 - 1, 2 ** 53, 2 ** 53 + 2, -(2 ** 31), 1e21, 1e-7, 1e308, -1e308, 5e-324, 0xffffffff + 1]);
    case 3:
      return rng.pick(['', ' ', '=', '====', '-0', '0x10', '1e3', 'null', 'true', '[]', '{}', '\u0000', '\ud800', '\ufeff', 'did:', 'did:agentmesh:', 'did:mesh:']);
    case 4:
      // Runs of padding characters: a quadratic regex on them hangs a parser.
      return '='.repeat(rng.pick([100, 1000, 10_000, 40_000, 100_000])) + rng.pick(['A', '!', '', '=A', ' ']);
    case 5:
      return rng.pick(['A', '-', '_', '+', '/', '0', 'x', ' ', '\\']).repeat(rng.pick([45, 100, 1000, 65_536, 200_000, 1_000_000]));
    case 6:
      return 'did:agentmesh:' + randomText(rng, 60);
    case 7:
      return 'did:mesh:' + randomText(rng, 40);
    case 8:
      return randomText(rng, 300);
    case 9:
      return deepValue(rng.pick([10, 40, 100, 1000, 20_000]), rng.chance(0.5) ? 'array' : 'object');
    case 10:
      return Array.from({ length: rng.pick([100, 1000, 100_000]) }, (_, i) => (rng.chance(0.5) ? i : 'x'));
    case 11: {
      const out: Record<string, number> = {};
      for (let i = 0, n = rng.pick([100, 10_000]); i < n; i++) out[`k${i}`] = i;
      return out;
    }
    case 12:
      return [];
    case 13:
      return {};
    case 14:
      return JSON.parse('{"__proto__": {"polluted": true}}') as unknown;
    case 15:
      return JSON.parse('{"__proto__": {"polluted": true}, "constructor": {"prototype": {"polluted": true}}}') as unknown;
    case 16:
      return { toString: 1, valueOf: 'x', toJSON: 'y', length: -1, then: 1 };
    case 17:
      return rng.pick(['AAAA', 'AAA=', 'AA==', 'A===', 'AAAAA', '====AAAA', 'AA\nAA', 'AA AA', 'AA%3D', '+/+/', '-_-_']);
    case 18:
      return btoaBytes(rng.bytes(rng.pick([0, 1, 31, 32, 33, 63, 64, 65, 12, 28, 1000])));
    case 19:
      return btoaBytes(rng.bytes(32)) + rng.pick(['=', '==', '===', '!', '.', ' ']);
    case 20:
      return rng.pick(['2026-01-01T00:00:00Z', '2026-01-01T00:00:00.000+00:00', '9999-12-31T23:59:59Z', '0000-00-00T00:00:00Z', '2026-02-30T25:61:61Z', '2026-01-01T00:00:00.1234567891Z', '+275760-09-13T00:00:00Z']);
    case 21:
      return rng.pick(['00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff', 'not-a-uuid', '{00000000-0000-0000-0000-000000000000}']);
    case 22:
      return 'x'.repeat(rng.pick([37, 65, 129, 257, 1025, 70_000]));
    case 23:
      return randomJson(rng, 4);
    case 24:
      return [randomJson(rng, 2), randomJson(rng, 2)];
    case 25:
      return Number.MAX_SAFE_INTEGER;
    // Not producible by JSON.parse, but a caller may hand them over.
    case 26:
      return undefined;
    case 27:
      return rng.pick([Number.NaN, Infinity, -Infinity, -0]);
    case 28:
      return rng.bytes(rng.pick([0, 1, 16, 31, 32, 33, 64, 65, 1000]));
    default:
      return new Uint8Array(rng.pick([32, 64]));
  }
}

export function btoaBytes(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

type Path = (string | number)[];

/**
 * Paths a mutation may touch: at most `limit`, at most 50 levels down. Nothing deeper is ever
 * changed, so deep parts `clone` shares between copies stay acyclic.
 */
function paths(value: unknown, prefix: Path = [], out: Path[] = [], limit = 400): Path[] {
  out.push(prefix);
  if (out.length >= limit || prefix.length >= 50) return out;
  if (Array.isArray(value)) {
    for (let i = 0; i < Math.min(value.length, 50); i++) paths(value[i], [...prefix, i], out, limit);
  } else if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array)) {
    for (const k of Object.keys(value).slice(0, 50)) paths((value as Record<string, unknown>)[k], [...prefix, k], out, limit);
  }
  return out;
}

function getAt(value: unknown, path: Path): unknown {
  let v = value;
  for (const p of path) v = (v as Record<string | number, unknown>)[p];
  return v;
}

/** A deep copy that keeps byte arrays as byte arrays (structuredClone would too, but slowly and deep-limited). */
export function clone<T>(value: T, depth = 0): T {
  // Deep hostile values are shared below this depth rather than copied (recursion would overflow).
  if (depth > 200) return value;
  if (value instanceof Uint8Array) return new Uint8Array(value) as T;
  if (Array.isArray(value)) return value.map((v) => clone(v, depth + 1)) as T;
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) put(out, k, clone(v, depth + 1));
    return out as T;
  }
  return value;
}

function setAt(root: unknown, path: Path, replacement: unknown, remove = false): unknown {
  if (path.length === 0) return replacement;
  const parent = getAt(root, path.slice(0, -1)) as Record<string | number, unknown>;
  const key = path[path.length - 1]!;
  if (remove) {
    if (Array.isArray(parent)) parent.splice(key as number, 1);
    else delete parent[key];
  } else {
    put(parent, key, replacement);
  }
  return root;
}

/** Sets an own property, as JSON.parse does: a key named `__proto__` must not change the prototype. */
function put(target: Record<string | number, unknown>, key: string | number, value: unknown): void {
  Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
}

function tweakString(rng: Rng, s: string): string {
  if (s.length === 0) return randomText(rng, 4);
  const i = rng.int(s.length);
  switch (rng.int(8)) {
    case 0:
      return s.slice(0, i) + s.slice(i + 1);
    case 1:
      return s.slice(0, i) + rng.pick([...'=+/-_ A0z\u0000é\ud800']) + s.slice(i);
    case 2:
      return s.slice(0, i) + String.fromCharCode(s.charCodeAt(i) ^ (1 << rng.int(7))) + s.slice(i + 1);
    case 3:
      return s.slice(0, i);
    case 4:
      return s + s.slice(0, 1 + rng.int(8));
    case 5:
      return s + '='.repeat(1 + rng.int(3));
    case 6:
      return s.toUpperCase();
    default:
      return s.replace(/-/g, '+').replace(/_/g, '/');
  }
}

function tweakNumber(rng: Rng, n: number): unknown {
  return rng.pick([n + 1, n - 1, -n, n * 2 ** 16, n + 0.5, 2 ** 32 - n, String(n), 0xffffffff, 0x100000000, -1, n * 1000]);
}

/**
 * 1–4 structural mutations of a JSON-like value: replace anything with a hostile value, delete a
 * field, add one, swap values between fields, nudge numbers and strings, resize byte arrays.
 */
export function mutateValue(rng: Rng, sample: unknown, allowNonJson: boolean): unknown {
  let value = clone(sample);
  for (let m = 0, k = 1 + rng.int(4); m < k; m++) {
    const all = paths(value);
    const path = rng.pick(all);
    const current = getAt(value, path);
    switch (rng.int(10)) {
      case 0:
      case 1:
        value = setAt(value, path, hostileValue(rng, allowNonJson));
        break;
      case 9:
        // Deep nesting where a scalar belongs: recursion anywhere on it overflows the stack.
        value = setAt(value, path, deepValue(rng.pick([1000, 20_000, 100_000]), rng.chance(0.5) ? 'array' : 'object', rng.chance(0.5) ? 1 : 'x'));
        break;
      case 2:
        if (path.length > 0) value = setAt(value, path, undefined, true);
        break;
      case 3:
        if (current !== null && typeof current === 'object' && !Array.isArray(current) && !(current instanceof Uint8Array)) {
          put(current as Record<string, unknown>, rng.pick(FIELD_NAMES), hostileValue(rng, allowNonJson));
        } else if (Array.isArray(current)) {
          current.splice(rng.int(current.length + 1), 0, rng.chance(0.5) && current.length > 0 ? clone(rng.pick(current)) : hostileValue(rng, allowNonJson));
        }
        break;
      case 4:
        value = setAt(value, path, clone(getAt(value, rng.pick(all))));
        break;
      case 5:
        if (typeof current === 'string') value = setAt(value, path, tweakString(rng, current));
        else if (typeof current === 'number') value = setAt(value, path, tweakNumber(rng, current));
        else value = setAt(value, path, hostileValue(rng, allowNonJson));
        break;
      case 6:
        if (current instanceof Uint8Array) {
          const b = new Uint8Array(Math.max(0, current.length + rng.pick([-1, 1, -current.length, 32])));
          b.set(current.subarray(0, b.length));
          value = setAt(value, path, b);
        } else if (typeof current === 'string') value = setAt(value, path, tweakString(rng, current));
        break;
      case 7:
        value = setAt(value, path, randomJson(rng, 2));
        break;
      default:
        if (path.length > 0) value = setAt(value, path, rng.pick([null, 0, '', [], {}, true]));
        break;
    }
  }
  return value;
}

/** Byte-level mutations: flips, overwrites, inserts, deletes, truncation, extension, splices. */
export function mutateBytes(rng: Rng, sample: Uint8Array, others: readonly Uint8Array[] = []): Uint8Array {
  let b: Uint8Array = new Uint8Array(sample);
  for (let m = 0, k = 1 + rng.int(4); m < k; m++) {
    const i = b.length === 0 ? 0 : rng.int(b.length);
    switch (rng.int(8)) {
      case 0:
        if (b.length) b[i]! ^= 1 << rng.int(8);
        break;
      case 1:
        if (b.length) b[i] = rng.pick([0, 0xff, 0x7f, 0x80, rng.int(256)]);
        break;
      case 2:
        b = concatBytes(b.subarray(0, i), rng.bytes(1 + rng.int(8)), b.subarray(i));
        break;
      case 3:
        b = concatBytes(b.subarray(0, i), b.subarray(Math.min(b.length, i + 1 + rng.int(8))));
        break;
      case 4:
        b = b.slice(0, rng.int(b.length + 1));
        break;
      case 5:
        b = concatBytes(b, rng.bytes(1 + rng.size(64)));
        break;
      case 6:
        if (others.length) {
          const o = rng.pick(others);
          b = concatBytes(b.subarray(0, i), o.subarray(rng.int(o.length + 1)));
        }
        break;
      default:
        // Length-prefix games: rewrite the first four bytes.
        if (b.length >= 4) new DataView(b.buffer, b.byteOffset).setUint32(0, rng.pick([0, 39, 40, 41, 0xffffffff, 0x80000000, rng.u32()]));
        break;
    }
  }
  return b;
}

/** Text-level mutations of JSON text: broken syntax, duplicate keys, deep nesting spliced in, BOMs. */
export function mutateText(rng: Rng, text: string): string {
  let t = text;
  for (let m = 0, k = 1 + rng.int(3); m < k; m++) {
    const i = rng.int(t.length + 1);
    switch (rng.int(10)) {
      case 0:
        t = t.slice(0, i) + t.slice(i + 1 + rng.int(4));
        break;
      case 1:
        t = t.slice(0, i) + rng.pick([...'{}[]",:\\ 0-eE.tfn\u0000\ud800']) + t.slice(i);
        break;
      case 2:
        t = t.slice(0, i);
        break;
      case 3: {
        // A duplicate key: JSON.parse keeps the last, a signer may have seen the first.
        const at = t.indexOf('{');
        if (at >= 0) t = `${t.slice(0, at + 1)}"${rng.pick(FIELD_NAMES)}":${JSON.stringify(randomJson(rng, 1))},${t.slice(at + 1)}`;
        break;
      }
      case 4:
        t = t.slice(0, i) + deepText(rng.pick([100, 5000, 50_000]), rng.chance(0.5) ? 'array' : 'object') + t.slice(i);
        break;
      case 5:
        t = '\ufeff' + t;
        break;
      case 6:
        t = t.replace(/"([a-z_]+)":/, (_, k: string) => `"${k}\\u0000":`);
        break;
      case 7:
        t = t.slice(0, i) + ' '.repeat(rng.pick([1, 100, 10_000])) + t.slice(i);
        break;
      case 8:
        t = t.replace(/[0-9]+/, () => rng.pick(['1e400', '-0', '00', '1.0', '9'.repeat(400), '0x1']));
        break;
      default:
        t = t + t.slice(0, rng.int(t.length));
        break;
    }
  }
  return t;
}

/**
 * JSON text of any JSON-like value, without recursion (JSON.stringify overflows the stack on deep
 * values). Byte arrays and other non-JSON values are written as JSON.stringify would (or `null`).
 */
export function toJsonText(value: unknown): string {
  const out: string[] = [];
  type Frame = { kind: 'arr'; items: unknown[]; i: number } | { kind: 'obj'; entries: [string, unknown][]; i: number };
  const stack: Frame[] = [];
  const scalar = (v: unknown): string | null => {
    if (v === null || typeof v === 'boolean' || typeof v === 'string') return JSON.stringify(v);
    if (typeof v === 'number') return Number.isFinite(v) ? JSON.stringify(v) : 'null';
    if (v === undefined || typeof v === 'function' || typeof v === 'symbol' || typeof v === 'bigint') return 'null';
    return null;
  };
  const open = (v: unknown): void => {
    const s = scalar(v);
    if (s !== null) return void out.push(s);
    if (Array.isArray(v)) {
      out.push('[');
      stack.push({ kind: 'arr', items: v, i: 0 });
    } else if (ArrayBuffer.isView(v)) {
      out.push(JSON.stringify(v));
    } else {
      out.push('{');
      stack.push({ kind: 'obj', entries: Object.entries(v as object).filter(([, x]) => x !== undefined && typeof x !== 'function'), i: 0 });
    }
  };
  open(value);
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    if (top.kind === 'arr') {
      if (top.i >= top.items.length) {
        out.push(']');
        stack.pop();
        continue;
      }
      if (top.i > 0) out.push(',');
      open(top.items[top.i++]);
    } else {
      if (top.i >= top.entries.length) {
        out.push('}');
        stack.pop();
        continue;
      }
      if (top.i > 0) out.push(',');
      const [k, v] = top.entries[top.i++]!;
      out.push(JSON.stringify(k), ':');
      open(v);
    }
  }
  return out.join('');
}

/** A short printable preview of an input, for failure reports. */
export function preview(input: unknown, max = 300): string {
  let s: string;
  if (input instanceof Uint8Array) s = `bytes(${input.length}) ${[...input.subarray(0, 64)].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
  else if (typeof input === 'string') s = `text(${input.length}) ${JSON.stringify(input.slice(0, max))}`;
  else {
    s = `value ${toJsonText(input).slice(0, max + 50)}`;
  }
  return s.length > max ? `${s.slice(0, max)}…` : s;
}
