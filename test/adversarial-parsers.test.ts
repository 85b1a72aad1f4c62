/**
 * Every parser that takes untrusted input, fed random and mutated input (a short run of
 * `npm run fuzz`'s parser part; see fuzz/parsers.ts), and regressions for what the fuzzer found:
 * a quadratic regex on base64 padding, `JSON.stringify` of hostile values in error messages, deep
 * nesting in relay frames, and registry answers of the wrong shape.
 *
 * FUZZ_SEED=<n> runs another seed; FUZZ_PARSER_INPUTS=<n> a longer run.
 */
import { describe, expect, it } from 'vitest';
import { decodeEstablishment } from '../src/channel/establishment.js';
import { fromBase64Any, toBase64Url } from '../src/encoding.js';
import { AgentMeshError, InvalidBundleError, InvalidEstablishmentError, InvalidKeyError, InvalidMessageError } from '../src/errors.js';
import { AgentIdentity } from '../src/identity/agent-identity.js';
import { InvalidFrameError, RegistryError } from '../src/net/errors.js';
import { checkEnvelope, parseFrame } from '../src/net/frames.js';
import { decodePreKeyUpload } from '../src/net/prekey-upload.js';
import { RegistryClient } from '../src/net/registry-client.js';
import { decodeChannels, decodeMetadata } from '../src/session/session-record.js';
import { CorruptRecordError, InvalidRecordError } from '../src/storage/errors.js';
import { checkBatch } from '../src/storage/store.js';
import { EncryptedMessage } from '../src/wire/encrypted-message.js';
import { jsonNestingExceeds } from '../src/wire/json.js';
import { decodeBundle } from '../src/x3dh/bundle.js';
import { X3DHKeyManager } from '../src/x3dh/key-manager.js';
import { deepValue } from '../fuzz/mutate.js';
import { runParserFuzz } from '../fuzz/parsers.js';

const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env ?? {};
const SEED = Number.parseInt(env.FUZZ_SEED ?? '', 10) || 20261127;
const INPUTS = Number.parseInt(env.FUZZ_PARSER_INPUTS ?? '', 10) || 1000;

/** A value of JSON depth `depth` that recursion cannot walk (JSON.stringify and String() overflow on it). */
const DEEP = deepValue(50_000, 'array');

function timed<T>(f: () => T): [T | unknown, number] {
  const t = performance.now();
  try {
    return [f(), performance.now() - t];
  } catch (error) {
    return [error, performance.now() - t];
  }
}

describe('parsers under random and mutated input', () => {
  it(`every parser (seed ${SEED}, ${INPUTS} inputs): typed errors only, no crash, no hang`, async () => {
    const result = await runParserFuzz({ seed: SEED, count: INPUTS, timeBoxMs: 1500 });
    expect(result.failures, JSON.stringify(result.failures, null, 2)).toEqual([]);
    for (const [name, s] of Object.entries(result.stats)) {
      expect(s.inputs, name).toBeGreaterThan(0);
    }
  }, 180_000);
});

describe('regressions found by the fuzzer', () => {
  it('a long run of "=" inside a base64 field is refused in linear time', () => {
    // /=+$/ backtracked quadratically: 100 000 '=' then one other character took ~10 s.
    const padding = '='.repeat(100_000) + 'A';
    const [error, ms] = timed(() => fromBase64Any(padding));
    expect(error).toBeInstanceOf(Error);
    expect(ms).toBeLessThan(200);
    const bundle = { identity_key: padding, identity_key_ed: 'x', signed_pre_key: { key_id: 1, public_key: 'x', signature: 'x' }, one_time_pre_key: null };
    const cases: [() => unknown, new (...a: never[]) => Error][] = [
      [() => decodeBundle(bundle), InvalidBundleError],
      [() => decodeEstablishment({ identity_key: padding, ephemeral_key: 'x', used_opk_id: null }), InvalidEstablishmentError],
      [() => EncryptedMessage.fromFrame({ header: { dh: toBase64Url(new Uint8Array(32)), pn: 0, n: 0 }, ciphertext: padding }), InvalidMessageError],
      [() => decodePreKeyUpload({ ...bundle, one_time_pre_keys: [] }), InvalidBundleError],
    ];
    for (const [parse, type] of cases) {
      const [e, t] = timed(parse);
      expect(e).toBeInstanceOf(type);
      expect(t).toBeLessThan(200);
    }
    // Padding at the end is still padding.
    expect(fromBase64Any('AAAA====')).toEqual(new Uint8Array(3));
    expect(fromBase64Any('AQ==')).toEqual(Uint8Array.of(1));
  });

  it('hostile values in fields that error messages quote give typed errors, not stack overflows', async () => {
    expect(() => checkEnvelope({ v: DEEP })).toThrow(InvalidFrameError);
    expect(() => decodeChannels({ version: DEEP })).toThrow(CorruptRecordError);
    expect(() => decodeMetadata({ version: DEEP })).toThrow(CorruptRecordError);
    expect(() => checkBatch([{ op: DEEP } as never])).toThrow(InvalidRecordError);
    expect(() => checkBatch([{ op: { toString: 1 } } as never])).toThrow(InvalidRecordError);
    const identity = await AgentIdentity.generate();
    const keys = await X3DHKeyManager.fromEd25519Keys(identity.secretKey, identity.publicKey);
    await expect(keys.importPreKeys({ version: DEEP })).rejects.toBeInstanceOf(InvalidKeyError);
  });

  it('relay frames nested deeper than 32 levels are refused before they are parsed', () => {
    const envelope = (extra: string) =>
      `{"v":1,"type":"trust_challenge","from":"did:agentmesh:2iFguZvSamrFr4QPPm8pLSktDUzc","to":"did:agentmesh:26f8MQANtAe9r4UDAuREwwSsc8yT","id":"00000000-0000-4000-8000-000000000000","ts":"2026-01-01T00:00:00Z","challenge":${extra}}`;
    expect(() => parseFrame(envelope('['.repeat(40) + ']'.repeat(40)))).toThrow(/nested deeper/);
    expect(() => parseFrame(envelope('{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000)), 1024 * 1024)).toThrow(InvalidFrameError);
    expect(parseFrame(envelope('[[[1]]]')).type).toBe('trust_challenge');
    // Brackets inside strings do not count.
    expect(jsonNestingExceeds(`{"s":"${'['.repeat(100)}\\"${'{'.repeat(100)}"}`, 3)).toBe(false);
    expect(jsonNestingExceeds('[[[[]]]]', 3)).toBe(true);
    expect(jsonNestingExceeds('[[[]]]', 3)).toBe(false);
  });

  it('a registry answer of the wrong shape is a RegistryError, never a TypeError', async () => {
    const identity = await AgentIdentity.generate();
    let body: unknown = {};
    const client = new RegistryClient({ baseUrl: 'http://registry.test', identity, fetch: async () => new Response(JSON.stringify(body), { status: 200 }) });
    const answers: [() => Promise<unknown>, unknown][] = [
      [() => client.getAgent(identity.did), { did: identity.did, public_key: 5 }],
      [() => client.getAgent(identity.did), { did: identity.did, public_key: 'not base64 !' }],
      [() => client.preKeyStatus(), { one_time_pre_keys: 1, signed_pre_key: null, retained_signed_pre_keys: 7 }],
      [() => client.preKeyStatus(), { signed_pre_key: {}, retained_signed_pre_keys: [null] }],
      [() => client.discover({ capability: 'x' }), { agents: 'none' }],
      [() => client.fetchInbox(), { frames: {} }],
      [() => client.reportReputation(identity.did, { score: 1 }), { trust_score: 1, reputation: null }],
    ];
    for (const [call, answer] of answers) {
      body = answer;
      const error = await call().then(() => null, (e: unknown) => e);
      expect(error, JSON.stringify(answer)).toBeInstanceOf(AgentMeshError);
      expect(error).toBeInstanceOf(RegistryError);
    }
  });
});
