import { describe, expect, it } from 'vitest';
import { AgentIdentity } from '../src/identity/agent-identity.js';
import { InMemoryTrustNetwork, StaticTrustProvider, TrustError, TrustHandshake, VerificationCache } from '../src/trust/index.js';
import { bridgePair, fakeClock, tapTransport } from './helpers/trust-agents.js';

async function pair(bobScore: number, clock = fakeClock(), cacheTtlMs?: number) {
  const alice = await AgentIdentity.generate();
  const bob = await AgentIdentity.generate();
  const provider = new StaticTrustProvider({ [alice.did]: 800, [bob.did]: bobScore });
  const network = new InMemoryTrustNetwork();
  const challenges: string[] = [];
  const aliceTransport = tapTransport(network.endpoint(alice.did), {
    request: (f, send) => {
      if (f.type === 'trust_challenge') challenges.push(f.to);
      return send(f);
    },
  });
  const make = (id: AgentIdentity, transport = network.endpoint(id.did)) => {
    const hs = new TrustHandshake({ identity: id, agentDid: id.did, trustProvider: provider, transport, minTrustScore: 100, now: clock.now, cacheTtlMs });
    transport.listen(async (f) => (await hs.handleFrame(f))!);
    return hs;
  };
  return { alice: make(alice, aliceTransport), bob: make(bob), bobDid: bob.did, provider, challenges, clock };
}

describe('verification cache: keyed by the threshold passed', () => {
  it('a pass at threshold 500 is not reused for a threshold-900 check', async () => {
    const { alice, bobDid, provider, challenges } = await pair(950);
    expect((await alice.verifyPeer(bobDid, { minTrustScore: 500 })).threshold).toBe(500);
    expect(challenges).toHaveLength(1);
    // Bob's standing drops; a 900 check must ask again and see it.
    provider.set(bobDid, 600);
    const error = await alice.verifyPeer(bobDid, { minTrustScore: 900 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TrustError);
    expect((error as TrustError).reason).toBe('insufficient_trust');
    expect(challenges).toHaveLength(2);
  });

  it('a pass at 900 is reused for 500 and for 900, within the TTL only', async () => {
    const { alice, bobDid, challenges, clock } = await pair(950, fakeClock(), 60_000);
    await alice.verifyPeer(bobDid, { minTrustScore: 900 });
    await alice.verifyPeer(bobDid, { minTrustScore: 500 });
    await alice.verifyPeer(bobDid, { minTrustScore: 900 });
    expect(challenges).toHaveLength(1);
    clock.advance(60_000);
    await alice.verifyPeer(bobDid, { minTrustScore: 500 });
    expect(challenges).toHaveLength(2);
  });

  it('useCache: false always runs the handshake', async () => {
    const { alice, bobDid, challenges } = await pair(950);
    await alice.verifyPeer(bobDid);
    await alice.verifyPeer(bobDid, { useCache: false });
    expect(challenges).toHaveLength(2);
  });

  it('the bridge asks again when a call raises the bar above what the cache vouches for', async () => {
    const { b, alice, bob, provider } = await bridgePair({ aliceMin: 500, bobScore: 950 });
    await alice.openSecureChannel(b.did, await bob.publishPrekeyBundle());
    (provider as StaticTrustProvider).set(b.did, 600);
    // Same bar: the cached pass stands.
    await alice.openSecureChannel(b.did, await bob.publishPrekeyBundle());
    const error = await alice.openSecureChannel(b.did, await bob.publishPrekeyBundle(), { minTrustScore: 900 }).catch((e: unknown) => e);
    expect((error as TrustError).reason).toBe('insufficient_trust');
  });
});

describe('VerificationCache', () => {
  const entry = (peerDid: string, threshold: number, verifiedAt: number) => ({
    peerDid,
    publicKey: new Uint8Array(32).fill(7),
    trustScore: 900,
    threshold,
    verifiedAt,
  });

  it('hands out copies, forgets with TTL 0, and stays within its size', () => {
    const clock = fakeClock();
    const cache = new VerificationCache({ ttlMs: 1000, maxEntries: 2, now: clock.now });
    cache.set(entry('did:mesh:' + '1'.repeat(32), 700, clock.now()));
    const got = cache.get('did:mesh:' + '1'.repeat(32), 700)!;
    got.publicKey.fill(0);
    expect(cache.provenKey('did:mesh:' + '1'.repeat(32))).toEqual(new Uint8Array(32).fill(7));
    cache.set(entry('did:mesh:' + '2'.repeat(32), 700, clock.now()));
    cache.set(entry('did:mesh:' + '3'.repeat(32), 700, clock.now()));
    expect(cache.size).toBe(2);
    expect(cache.get('did:mesh:' + '1'.repeat(32), 0)).toBeNull();
    clock.advance(1000);
    expect(cache.provenKey('did:mesh:' + '2'.repeat(32))).toBeNull();

    const off = new VerificationCache({ ttlMs: 0 });
    off.set(entry('did:mesh:' + '1'.repeat(32), 700, Date.now()));
    expect(off.size).toBe(0);
  });
});
