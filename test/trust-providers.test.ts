import { describe, expect, it } from 'vitest';
import { AgentIdentity } from '../src/identity/agent-identity.js';
import {
  CompositeTrustProvider,
  InMemoryTrustNetwork,
  StaticTrustProvider,
  TrustConfigError,
  TrustError,
  TrustHandshake,
  assertKeyBelongsToDid,
  type TrustProvider,
} from '../src/trust/index.js';
import { getDefaultCryptoProvider } from '../src/crypto/index.js';

const LEGACY = 'did:mesh:' + 'ab'.repeat(16);
const OTHER = 'did:mesh:' + 'cd'.repeat(16);

const fixed = (score: number | null, key: Uint8Array | null = null): TrustProvider => ({
  getTrustScore: async () => score,
  getPublicKey: async () => key,
});

describe('StaticTrustProvider', () => {
  it('answers scores and keys from a record or from entries', async () => {
    const id = await AgentIdentity.generate();
    const key = (await AgentIdentity.generate()).publicKey; // a usable key: junk bytes are refused (SECURITY.md, class 7)
    const p = new StaticTrustProvider({ [id.did]: { score: 810, publicKey: id.publicKey }, [LEGACY]: { score: 400, publicKey: key } });
    expect(await p.getTrustScore(id.did)).toBe(810);
    expect(await p.getPublicKey(LEGACY)).toEqual(key);
    (await p.getPublicKey(LEGACY))!.fill(0); // a copy
    expect(await p.getPublicKey(LEGACY)).toEqual(key);
    expect(await p.getTrustScore(OTHER)).toBeNull();
    expect(await p.getPublicKey(id.did.replace(/.$/, '2'))).toBeNull();
    const q = new StaticTrustProvider(new Map([[LEGACY, 5]]));
    expect(await q.getTrustScore(LEGACY)).toBe(5);
    q.set(LEGACY, 6);
    expect(await q.getTrustScore(LEGACY)).toBe(6);
    expect(q.delete(LEGACY)).toBe(true);
    expect(await q.getTrustScore(LEGACY)).toBeNull();
  });

  it('refuses entries that cannot be right', async () => {
    const id = await AgentIdentity.generate();
    const other = await AgentIdentity.generate();
    for (const score of [-1, 1001, 1.5, Number.NaN, '700']) {
      expect(() => new StaticTrustProvider({ [LEGACY]: score as number })).toThrow(TrustConfigError);
    }
    expect(() => new StaticTrustProvider({ 'did:mesh:bob': 700 })).toThrow(TrustConfigError);
    expect(() => new StaticTrustProvider({ [LEGACY]: { score: 1, publicKey: new Uint8Array(31) } })).toThrow(TrustConfigError);
    // A derived DID names exactly one key.
    expect(() => new StaticTrustProvider({ [id.did]: { score: 1, publicKey: other.publicKey } })).toThrow(TrustConfigError);
  });
});

describe('CompositeTrustProvider', () => {
  it('combines the scores of the providers that know a DID', async () => {
    const providers = [fixed(300), fixed(null), fixed(900), fixed(601)];
    expect(await new CompositeTrustProvider(providers).getTrustScore(LEGACY)).toBe(300);
    expect(await new CompositeTrustProvider(providers, { combine: 'min' }).getTrustScore(LEGACY)).toBe(300);
    expect(await new CompositeTrustProvider(providers, { combine: 'max' }).getTrustScore(LEGACY)).toBe(900);
    expect(await new CompositeTrustProvider(providers, { combine: 'mean' }).getTrustScore(LEGACY)).toBe(600);
    expect(await new CompositeTrustProvider([fixed(null), ...providers], { combine: 'first' }).getTrustScore(LEGACY)).toBe(300);
    expect(await new CompositeTrustProvider([fixed(null), fixed(null)]).getTrustScore(LEGACY)).toBeNull();
  });

  it('takes the first known key and refuses providers that disagree', async () => {
    const k1 = new Uint8Array(32).fill(1);
    const k2 = new Uint8Array(32).fill(2);
    expect(await new CompositeTrustProvider([fixed(1), fixed(1, k1), fixed(1, k1)]).getPublicKey(LEGACY)).toEqual(k1);
    expect(await new CompositeTrustProvider([fixed(1)]).getPublicKey(LEGACY)).toBeNull();
    const error = await new CompositeTrustProvider([fixed(1, k1), fixed(1, k2)]).getPublicKey(LEGACY).catch((e: unknown) => e);
    expect((error as TrustError).reason).toBe('did_key_mismatch');
  });

  it('reports failing or nonsensical providers as provider_error', async () => {
    const failing: TrustProvider = {
      getTrustScore: async () => {
        throw new Error('down');
      },
      getPublicKey: async () => {
        throw new Error('down');
      },
    };
    for (const p of [failing, fixed(-5), fixed(12.5), fixed('high' as never)]) {
      const error = await new CompositeTrustProvider([p]).getTrustScore(LEGACY).catch((e: unknown) => e);
      expect((error as TrustError).reason).toBe('provider_error');
    }
    const badKey = await new CompositeTrustProvider([fixed(1, 'key' as never)]).getPublicKey(LEGACY).catch((e: unknown) => e);
    expect((badKey as TrustError).reason).toBe('provider_error');
    const thrown = await new CompositeTrustProvider([failing]).getPublicKey(LEGACY).catch((e: unknown) => e);
    expect((thrown as TrustError).reason).toBe('provider_error');
  });

  it('refuses to be built empty or with an unknown combination', () => {
    expect(() => new CompositeTrustProvider([])).toThrow(TrustConfigError);
    expect(() => new CompositeTrustProvider([fixed(1)], { combine: 'median' as never })).toThrow(TrustConfigError);
  });

  it('lets one provider vouch for a legacy key and another score it, in a handshake', async () => {
    const alice = await AgentIdentity.generate();
    const bob = await AgentIdentity.generate();
    const keys = new StaticTrustProvider({ [LEGACY]: { score: 0, publicKey: bob.publicKey } });
    const scores = new StaticTrustProvider({ [LEGACY]: 880, [alice.did]: 880 });
    // The key registry's 0 is not a judgement of Bob: it answers keys only, so scores come from the second.
    const provider: TrustProvider = {
      getTrustScore: (did) => scores.getTrustScore(did),
      getPublicKey: (did) => new CompositeTrustProvider([keys, scores]).getPublicKey(did),
    };
    const network = new InMemoryTrustNetwork();
    const a = new TrustHandshake({ identity: alice, agentDid: alice.did, trustProvider: provider, transport: network.endpoint(alice.did) });
    const b = new TrustHandshake({ identity: bob, agentDid: LEGACY, trustProvider: provider, transport: network.endpoint(LEGACY) });
    network.endpoint(alice.did).listen(async (f) => (await a.handleFrame(f))!);
    network.endpoint(LEGACY).listen(async (f) => (await b.handleFrame(f))!);
    expect((await a.verifyPeer(LEGACY)).trustScore).toBe(880);
  });
});

describe('assertKeyBelongsToDid', () => {
  it('checks derived DIDs by hash and legacy names against the provider', async () => {
    const crypto = getDefaultCryptoProvider();
    const id = await AgentIdentity.generate();
    const other = await AgentIdentity.generate();
    const provider = new StaticTrustProvider({ [LEGACY]: { score: 1, publicKey: id.publicKey } });
    await assertKeyBelongsToDid(id.did, id.publicKey, provider, crypto);
    await assertKeyBelongsToDid(LEGACY, id.publicKey, provider, crypto);
    const reasons = await Promise.all(
      [
        assertKeyBelongsToDid(id.did, other.publicKey, provider, crypto),
        assertKeyBelongsToDid(LEGACY, other.publicKey, provider, crypto),
        assertKeyBelongsToDid(OTHER, id.publicKey, provider, crypto),
        assertKeyBelongsToDid('did:web:example.com', id.publicKey, provider, crypto),
      ].map((p) => p.then(() => 'ok', (e: TrustError) => e.reason)),
    );
    expect(reasons).toEqual(['did_key_mismatch', 'did_key_mismatch', 'unknown_key', 'invalid_did']);
  });
});
