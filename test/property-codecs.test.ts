/**
 * Property-based tests of every parser that takes untrusted input, and of the codecs' round trips.
 *
 * - `EncryptedMessage`: serialize/deserialize and toFrame/fromFrame are inverse, any base64 variant;
 * - random bytes, random JSON and mutated valid records given to `EncryptedMessage.deserialize`,
 *   `EncryptedMessage.fromFrame`, `decodeBundle`, `decodeEstablishment`, `RatchetState.fromDict`
 *   and `parseDid` either parse (and then re-encode to an equivalent value) or throw the parser's
 *   own AgentMeshError subclass — never anything untyped.
 *
 * FC_RUNS=<n> sets the number of runs of every property; FC_SEED=<n> replays a reported seed.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { base64 } from '@scure/base';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeEstablishment, encodeEstablishment, type EstablishmentJson } from '../src/channel/establishment.js';
import { SecureChannel } from '../src/channel/secure-channel.js';
import { createCryptoProvider, isValidEd25519PublicKey } from '../src/crypto/index.js';
import { concatBytes, toBase58, toBase64Url, toHex, utf8, type Bytes } from '../src/encoding.js';
import {
  AgentMeshError,
  InvalidBundleError,
  InvalidDidError,
  InvalidEstablishmentError,
  InvalidKeyError,
  InvalidMessageError,
  RatchetStateError,
} from '../src/errors.js';
import { checkDidKey, didFromPublicKey, parseDid } from '../src/identity/did.js';
import { RatchetState, type RatchetStateDict } from '../src/ratchet/state.js';
import { EncryptedMessage, type MessageFrameBody } from '../src/wire/encrypted-message.js';
import { decodeBundle, encodeBundle, type BundleJson } from '../src/x3dh/bundle.js';
import { X3DHKeyManager } from '../src/x3dh/key-manager.js';

const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env ?? {};
const FC_RUNS = Number.parseInt(env.FC_RUNS ?? '', 10);
const FC_SEED = Number.parseInt(env.FC_SEED ?? '', 10);
const LONG = Number.isFinite(FC_RUNS) && FC_RUNS > 0;

/** Parsers are cheap, so the default is larger than for the ratchet schedules. */
function params(defaultRuns: number): { numRuns: number; seed?: number } {
  return { numRuns: LONG ? FC_RUNS * 10 : defaultRuns, ...(Number.isFinite(FC_SEED) ? { seed: FC_SEED } : {}) };
}
const TIMEOUT = LONG ? 24 * 3600_000 : 60_000;

type ErrorClass = new (...args: never[]) => AgentMeshError;

/** Runs `parse`; a throw must be exactly the parser's typed error. Returns the value or undefined. */
function parseOrTypedError<T>(parse: () => T, errorClass: ErrorClass): T | undefined {
  try {
    return parse();
  } catch (error) {
    if (!(error instanceof errorClass) || !(error instanceof AgentMeshError)) {
      throw new Error(`expected ${errorClass.name}, got ${(error as Error)?.constructor?.name}: ${String(error)}`);
    }
    expect(typeof error.code).toBe('string');
    return undefined;
  }
}

const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max });
const uint32 = fc.oneof(fc.nat({ max: 1000 }), fc.constantFrom(0, 0xffffffff, 0x7fffffff, 0x80000000), fc.nat().map((x) => x * 2 + 1));

/** Re-encodes base64url without padding as standard base64 with padding (the decoders accept both). */
const toStdBase64 = (b: Uint8Array) => base64.encode(b);

// ---------------------------------------------------------------------------------------------
// Mutations of valid JSON records: delete, or replace with a hostile value, at any path.

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function paths(value: Json, prefix: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [prefix];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...paths(v, [...prefix, i])));
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) out.push(...paths(v, [...prefix, k]));
  return out;
}

const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(null, undefined, true, false, 0, -1, 1.5, 2 ** 32, 2 ** 53, -0, Number.NaN, Infinity, '', '=', '====', 'not base64!', '\u0000', [], {}),
  fc.jsonValue({ maxDepth: 2 }),
  fc.anything({ maxDepth: 2 }),
  fc.string({ maxLength: 60 }),
  bytes(0, 70).map(toBase64Url),
  bytes(0, 70).map(toStdBase64),
  fc.stringMatching(/^[A-Za-z0-9_\-+/=]{0,90}$/),
  fc.stringMatching(/^[0-9a-fA-F]{0,70}$/),
  uint32,
);

interface Edit {
  at: number;
  op: 'delete' | 'replace' | 'add';
  value: unknown;
  key: string;
}
const editArb: fc.Arbitrary<Edit> = fc.record({
  at: fc.nat(),
  op: fc.constantFrom('delete' as const, 'replace' as const, 'replace' as const, 'add' as const),
  value: hostileValue,
  key: fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('__proto__', 'constructor', 'toString', 'n', 'dh', 'key_id')),
});

function applyEdits(base: Json, edits: Edit[]): unknown {
  let root = JSON.parse(JSON.stringify(base)) as unknown;
  for (const edit of edits) {
    // A fresh copy: generated values can share instances, and the record must stay a tree.
    const e = { ...edit, value: edit.value === undefined ? undefined : structuredClone(edit.value) };
    const all = paths(root as Json);
    const path = all[e.at % all.length]!;
    if (path.length === 0) {
      if (e.op === 'replace') root = e.value;
      continue;
    }
    let parent = root as Record<string | number, unknown>;
    for (const k of path.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
    const last = path[path.length - 1]!;
    if (e.op === 'delete') {
      if (Array.isArray(parent)) parent.splice(Number(last), 1);
      else delete parent[last];
    } else if (e.op === 'replace') parent[last] = e.value;
    else if (typeof parent[last] === 'object' && parent[last] !== null && !Array.isArray(parent[last])) {
      Object.defineProperty(parent[last], e.key, { value: e.value, enumerable: true, configurable: true, writable: true });
    }
  }
  return root;
}

/** Random input for a JSON decoder: arbitrary values, JSON text, and mutated valid records (object or text). */
function hostileJson(valid: () => Json): fc.Arbitrary<unknown> {
  const mutated = fc.array(editArb, { minLength: 1, maxLength: 4 }).map((edits) => applyEdits(valid(), edits));
  return fc.oneof(
    fc.anything(),
    fc.json(),
    fc.string({ maxLength: 80 }),
    bytes(0, 64),
    { arbitrary: mutated, weight: 4 },
    { arbitrary: mutated.map((v) => (v === undefined ? 'undefined' : JSON.stringify(v))), weight: 2 },
    // Truncated or bit-flipped JSON text of a valid record.
    fc.tuple(fc.nat(), fc.nat({ max: 6 })).map(([cut, flip]) => {
      const text = JSON.stringify(valid());
      const at = cut % text.length;
      return flip === 0 ? text.slice(0, at) : text.slice(0, at) + String.fromCharCode(text.charCodeAt(at) ^ (1 << flip)) + text.slice(at + 1);
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// Valid records to start from, taken from a live session.

let bundleJson: BundleJson;
let establishmentJson: EstablishmentJson;
let stateDict: RatchetStateDict;
let frame: MessageFrameBody;
let wire: Bytes;

beforeAll(async () => {
  const crypto = createCryptoProvider('fast');
  const manager = async () => {
    const seed = crypto.randomBytes(32);
    const pub = await crypto.ed25519PublicKey(seed);
    return X3DHKeyManager.fromEd25519Keys(concatBytes(seed, pub), pub, { crypto });
  };
  const [alice, bob] = [await manager(), await manager()];
  await bob.generateSignedPreKey();
  const [otk] = await bob.generateOneTimePreKeys(1);
  bundleJson = encodeBundle(bob.getPublicBundle(otk!.keyId));
  const [sender, establishment] = await SecureChannel.createSender(alice, decodeBundle(bundleJson));
  establishmentJson = encodeEstablishment(establishment);
  const receiver = await SecureChannel.createReceiver(bob, decodeEstablishment(establishmentJson));
  const first = await sender.send(utf8('m0'));
  await sender.send(utf8('m1'));
  const third = await sender.send(utf8('m2'));
  await receiver.receive(third); // leaves the keys of m0 and m1 in the cache
  stateDict = receiver.state.toDict();
  expect(Object.keys(stateDict.skipped_keys)).toHaveLength(2);
  frame = first.toFrame();
  wire = first.serialize();
});

// ---------------------------------------------------------------------------------------------

const headerArb = fc.record({ dhPublicKey: bytes(32, 32), previousChainLength: uint32, messageNumber: uint32 });
const messageArb = fc.tuple(headerArb, bytes(28, 300)).map(([h, c]) => new EncryptedMessage(h as never, c));

/**
 * JSON text may carry `-0`, which the decoders accept as the integer 0 (it encodes as 0 on the
 * wire and in JSON); compare numbers with `===`, not Object.is.
 */
const num = (x: number | null | undefined) => (typeof x === 'number' ? x + 0 : x);

function sameMessage(a: EncryptedMessage, b: EncryptedMessage): void {
  expect(toHex(a.header.dhPublicKey)).toBe(toHex(b.header.dhPublicKey));
  expect(num(a.header.previousChainLength)).toBe(num(b.header.previousChainLength));
  expect(num(a.header.messageNumber)).toBe(num(b.header.messageNumber));
  expect(toHex(a.ciphertext)).toBe(toHex(b.ciphertext));
}

describe('EncryptedMessage round trips', () => {
  it('deserialize(serialize(m)) = m, and the binary form is 4 + 40 + ciphertext bytes', () => {
    fc.assert(
      fc.property(messageArb, (m) => {
        const bin = m.serialize();
        expect(bin.length).toBe(44 + m.ciphertext.length);
        const back = EncryptedMessage.deserialize(bin);
        sameMessage(back, m);
        expect(toHex(back.serialize())).toBe(toHex(bin));
      }),
      params(300),
    );
  });

  it('fromFrame(toFrame(m)) = m, as an object, as JSON text, and with standard padded base64', () => {
    fc.assert(
      fc.property(messageArb, (m) => {
        const f = m.toFrame();
        expect(f.header.dh).toMatch(/^[A-Za-z0-9_-]{43}$/);
        expect(f.ciphertext).not.toMatch(/[=+/]/);
        sameMessage(EncryptedMessage.fromFrame(f), m);
        sameMessage(EncryptedMessage.fromFrame(JSON.stringify(f)), m);
        const std = { header: { ...f.header, dh: toStdBase64(m.header.dhPublicKey) }, ciphertext: toStdBase64(m.ciphertext) };
        sameMessage(EncryptedMessage.fromFrame(std), m);
        expect(EncryptedMessage.fromFrame(f).toFrame()).toEqual(f);
      }),
      params(300),
    );
  });
});

describe('hostile input only ever raises the typed error', () => {
  it(
    'EncryptedMessage.deserialize: random bytes, random tails after a valid length prefix, damaged wire',
    () => {
      const input = fc.oneof(
        bytes(0, 120),
        bytes(0, 120).map((tail) => concatBytes(Uint8Array.of(0, 0, 0, 40), tail)),
        fc.tuple(fc.nat(), fc.nat()).map(([cut, bit]) => {
          const w = new Uint8Array(wire);
          w[(bit >> 3) % w.length]! ^= 1 << (bit & 7);
          return w.slice(0, cut % (w.length + 1));
        }),
        fc.constantFrom<unknown>(null, undefined, 'text', [0, 0, 0, 40], new ArrayBuffer(60), new Uint16Array(30)),
      );
      fc.assert(
        fc.property(input, (data) => {
          const m = parseOrTypedError(() => EncryptedMessage.deserialize(data as Uint8Array), InvalidMessageError);
          if (m) expect(toHex(m.serialize())).toBe(toHex(data as Uint8Array));
        }),
        params(1000),
      );
    },
    TIMEOUT,
  );

  it(
    'EncryptedMessage.fromFrame',
    () => {
      fc.assert(
        fc.property(
          hostileJson(() => frame as unknown as Json),
          (input) => {
            const m = parseOrTypedError(() => EncryptedMessage.fromFrame(input), InvalidMessageError);
            if (m) sameMessage(EncryptedMessage.fromFrame(JSON.stringify(m.toFrame())), m);
          },
        ),
        params(1000),
      );
    },
    TIMEOUT,
  );

  it(
    'decodeBundle',
    () => {
      fc.assert(
        fc.property(
          hostileJson(() => bundleJson as unknown as Json),
          (input) => {
            const b = parseOrTypedError(() => decodeBundle(input), InvalidBundleError);
            if (b) {
              expect(b.identityKey.length + b.identityKeyEd.length + b.signedPreKey.length).toBe(96);
              expect(b.signedPreKeySignature.length).toBe(64);
              expect(decodeBundle(JSON.stringify(encodeBundle(b)))).toEqual({
                ...b,
                signedPreKeyId: num(b.signedPreKeyId),
                oneTimePreKeyId: num(b.oneTimePreKeyId),
              });
            }
          },
        ),
        params(1000),
      );
    },
    TIMEOUT,
  );

  it(
    'decodeEstablishment',
    () => {
      fc.assert(
        fc.property(
          hostileJson(() => establishmentJson as unknown as Json),
          (input) => {
            const e = parseOrTypedError(() => decodeEstablishment(input), InvalidEstablishmentError);
            if (e) {
              expect(e.identityKey.length + e.ephemeralKey.length).toBe(64);
              const again = decodeEstablishment(JSON.stringify(encodeEstablishment(e)));
              expect(again).toEqual({ ...e, usedOneTimeKeyId: num(e.usedOneTimeKeyId), signedPreKeyId: num(e.signedPreKeyId) ?? null });
            }
          },
        ),
        params(1000),
      );
    },
    TIMEOUT,
  );

  it(
    'RatchetState.fromDict',
    () => {
      fc.assert(
        fc.property(
          hostileJson(() => stateDict as unknown as Json),
          (input) => {
            const s = parseOrTypedError(() => RatchetState.fromDict(input), RatchetStateError);
            if (s) {
              const text = JSON.stringify(s.toDict());
              expect(JSON.stringify(RatchetState.fromDict(JSON.parse(text)).toDict())).toBe(text);
            }
          },
        ),
        params(1000),
      );
    },
    TIMEOUT,
  );

  it(
    'parseDid',
    () => {
      const base58ish = fc.stringMatching(/^[1-9A-HJ-NP-Za-km-z]{0,40}$/);
      const input = fc.oneof(
        fc.anything(),
        fc.string({ maxLength: 300 }),
        base58ish.map((s) => `did:agentmesh:${s}`),
        fc.stringMatching(/^[0-9a-fA-F]{0,40}$/).map((s) => `did:mesh:${s}`),
        fc.tuple(bytes(32, 32), fc.nat(), fc.string({ maxLength: 3 })).map(([key, at, ins]) => {
          const did = didFromPublicKey(key);
          const i = at % (did.length + 1);
          return did.slice(0, i) + ins + did.slice(i);
        }),
        bytes(0, 25).map((b) => `did:agentmesh:${toBase58(b)}`),
        fc.constantFrom('did:agentmesh:', 'did:mesh:', 'did:', '', 'did:agentmesh:' + '1'.repeat(300)),
      );
      fc.assert(
        fc.property(input, (did) => {
          const parsed = parseOrTypedError(() => parseDid(did), InvalidDidError);
          if (parsed) {
            expect(parsed.did).toBe(did);
            if (parsed.kind === 'agentmesh') {
              expect(parsed.fingerprint.length).toBe(20);
              expect(`did:agentmesh:${toBase58(parsed.fingerprint)}`).toBe(did);
            }
          }
        }),
        params(1000),
      );
    },
    TIMEOUT,
  );

  it('a DID derived from any key parses and belongs to exactly that key; bytes that are no usable key belong to none', () => {
    fc.assert(
      fc.property(bytes(32, 32), bytes(32, 32), (seed, junk) => {
        const key = ed25519.getPublicKey(seed);
        const did = didFromPublicKey(key);
        expect(parseDid(did).kind).toBe('agentmesh');
        expect(checkDidKey(did, key)).toBe('match');
        // Random bytes are rarely a point of prime order: those are refused outright (SECURITY.md, class 7).
        if (!isValidEd25519PublicKey(junk)) expect(() => checkDidKey(did, junk)).toThrow(InvalidKeyError);
        else if (toHex(key) !== toHex(junk)) expect(checkDidKey(did, junk)).toBe('mismatch');
        const other = ed25519.getPublicKey(junk);
        if (toHex(key) !== toHex(other)) expect(checkDidKey(did, other)).toBe('mismatch');
      }),
      params(200),
    );
  });
});
