// Issue 14 class 4: the caches a stranger can write to (the challenge book, the KNOCK seen-ids)
// have a quota per peer, and filling them refuses or evicts only the filler or other strangers,
// never an established peer or this agent's own challenges. Each test runs the flood, then checks
// that the victim still serves the peers it should.
import { describe, expect, it } from 'vitest';
import { getDefaultCryptoProvider } from '../src/crypto/index.js';
import { AgentIdentity } from '../src/identity/agent-identity.js';
import {
  ChallengeBook,
  InMemoryTrustNetwork,
  KnockExchange,
  SeenKnocks,
  StaticTrustProvider,
  TrustHandshake,
  type KnockIntent,
} from '../src/trust/index.js';
import { reasonOf } from './trust-fixtures.js';

const crypto = getDefaultCryptoProvider();
const did = (i: number) => `did:mesh:${String(i).padStart(32, '0')}`;


const intent: KnockIntent = { action: 'reports.read', description: 'read the weekly report', capabilitiesRequired: [], trustMinimum: 0 };

describe('the challenge book: quotas per peer, pools per owner', () => {
  it('a peer that challenges in a loop withdraws only its own oldest counter-challenges', () => {
    const book = new ChallengeBook();
    const flood = Array.from({ length: 2500 }, () => book.issue(did(1), crypto, 0, 30, 'stranger'));
    expect(book.pendingFor(did(1))).toBe(4);
    // Only its last four still count; the first ones were withdrawn.
    expect(reasonOf(() => book.take(flood[0]!.challenge_id, 1, did(1)))).toBe('unknown_challenge');
    expect(book.take(flood[2499]!.challenge_id, 1, did(1)).peerDid).toBe(did(1));
    // Another stranger and this agent itself are served as if nothing happened.
    const other = book.issue(did(2), crypto, 0, 30, 'stranger');
    expect(book.take(other.challenge_id, 1, did(2)).peerDid).toBe(did(2));
    expect(book.issue(did(3), crypto, 0, 30)).toBeDefined();
  });

  it('many strangers filling the shared pool: the next stranger waits, an established peer evicts a stranger, own challenges are untouched', () => {
    const book = new ChallengeBook({ maxPending: 8 });
    const strangers = Array.from({ length: 8 }, (_, i) => book.issue(did(100 + i), crypto, 0, 30, 'stranger'));
    expect(reasonOf(() => book.issue(did(200), crypto, 0, 30, 'stranger'))).toBe('busy');
    // The established peer's counter-challenge takes the oldest stranger's place.
    const friend = book.issue(did(7), crypto, 0, 30, 'established');
    expect(reasonOf(() => book.take(strangers[0]!.challenge_id, 1, did(100)))).toBe('unknown_challenge');
    expect(book.take(strangers[1]!.challenge_id, 1, did(101)).peerDid).toBe(did(101));
    // A pool full of established peers is never emptied by strangers.
    const full = new ChallengeBook({ maxPending: 2 });
    const friends = [full.issue(did(8), crypto, 0, 30, 'established'), full.issue(did(9), crypto, 0, 30, 'established')];
    expect(reasonOf(() => full.issue(did(300), crypto, 0, 30, 'stranger'))).toBe('busy');
    expect(full.take(friends[0]!.challenge_id, 1, did(8)).peerDid).toBe(did(8));
    // This agent's own challenges have a pool of their own.
    for (let i = 0; i < 8; i++) book.issue(did(400 + i), crypto, 0, 30);
    expect(reasonOf(() => book.issue(did(500), crypto, 0, 30))).toBe('busy');
    expect(book.take(friend.challenge_id, 1, did(7)).peerDid).toBe(did(7));
  });

  it('a handshake responder flooded by one peer’s challenges still completes an honest peer’s handshake', async () => {
    const [alice, bob, mallory] = await Promise.all([AgentIdentity.generate(), AgentIdentity.generate(), AgentIdentity.generate()]);
    const provider = new StaticTrustProvider({ [alice.did]: 800, [bob.did]: 800, [mallory.did]: 800 });
    const network = new InMemoryTrustNetwork();
    const hs = (id: AgentIdentity) => {
      const transport = network.endpoint(id.did);
      const handshake = new TrustHandshake({ identity: id, agentDid: id.did, trustProvider: provider, transport, minTrustScore: 700 });
      transport.listen(async (f) => (await handshake.handleFrame(f))!);
      return handshake;
    };
    const [aliceHs, bobHs] = [hs(alice), hs(bob)];
    const challenge = () => ({
      v: 1,
      type: 'trust_challenge',
      from: mallory.did,
      to: bob.did,
      id: globalThis.crypto.randomUUID(),
      ts: new Date().toISOString(),
      challenge: { challenge_id: `challenge_${globalThis.crypto.randomUUID().slice(0, 8)}`, nonce: 'ab'.repeat(32), timestamp: new Date().toISOString(), expires_in_seconds: 300 },
    });
    // More than the whole book (1000) from one DID; each is answered, none is proved.
    for (let i = 0; i < 1100; i++) expect(await bobHs.handleFrame(challenge())).toMatchObject({ type: 'trust_response' });
    expect(bobHs.awaitsProofFrom(mallory.did)).toBe(true);
    expect((await aliceHs.verifyPeer(bob.did)).peerDid).toBe(bob.did);
    expect(bobHs.cache.get(alice.did, 700)?.peerDid).toBe(alice.did);
  }, 60_000);

  it('a challenger below the threshold is refused before any signature or counter-challenge', async () => {
    const [bob, low] = await Promise.all([AgentIdentity.generate(), AgentIdentity.generate()]);
    const transport = new InMemoryTrustNetwork().endpoint(bob.did);
    const bobHs = new TrustHandshake({ identity: bob, agentDid: bob.did, trustProvider: new StaticTrustProvider({ [low.did]: 300 }), transport, minTrustScore: 700 });
    const answer = await bobHs.handleFrame({
      v: 1,
      type: 'trust_challenge',
      from: low.did,
      to: bob.did,
      id: globalThis.crypto.randomUUID(),
      ts: new Date().toISOString(),
      challenge: { challenge_id: 'challenge_0011', nonce: 'ab'.repeat(32), timestamp: new Date().toISOString(), expires_in_seconds: 30 },
    });
    expect(answer).toMatchObject({ type: 'error', code: 'insufficient_trust', to: low.did });
    expect(bobHs.awaitsProofFrom(low.did)).toBe(false);
  });
});

describe('the KNOCK seen-ids: quotas per peer, a pool for strangers', () => {
  it('one peer sending more KNOCKs than the whole cache held is refused itself; an honest stranger still knocks', async () => {
    const [bob, mallory, alice] = await Promise.all([AgentIdentity.generate(), AgentIdentity.generate(), AgentIdentity.generate()]);
    const provider = new StaticTrustProvider({ [mallory.did]: 800, [alice.did]: 800 });
    const bobKnocks = new KnockExchange({ agentDid: bob.did, identity: bob, trustProvider: provider, policy: () => ({ accept: true }) });
    const sender = (id: AgentIdentity) => new KnockExchange({ agentDid: id.did, identity: id, trustProvider: provider, policy: () => ({ accept: false, reason: 'no' }) });
    const malloryKnocks = sender(mallory);
    const codes = new Map<string, number>();
    // The cache held 10,000 ids for everyone; one DID that fills it used to refuse every KNOCK.
    for (let i = 0; i < 10_050; i++) {
      const { answer } = await bobKnocks.answerKnock(await malloryKnocks.createKnock(bob.did, intent));
      const code = answer.type === 'error' ? String(answer.code) : answer.type;
      codes.set(code, (codes.get(code) ?? 0) + 1);
    }
    expect(Object.fromEntries(codes)).toEqual({ knock_accept: 32, busy: 10_018 });
    const { answer, grant } = await bobKnocks.answerKnock(await sender(alice).createKnock(bob.did, intent));
    expect(answer.type).toBe('knock_accept');
    expect(grant?.peerDid).toBe(alice.did);
  }, 120_000);

  it('strangers filling their pool refuse further strangers only: an established peer and a replay check stay', () => {
    const seen = new SeenKnocks({ maxPerPeer: 3, maxStrangers: 6 });
    for (let p = 0; p < 2; p++) for (let k = 0; k < 3; k++) seen.claim(did(p), `k${k}`, 0, 1000, false);
    expect(reasonOf(() => seen.claim(did(1), 'k3', 0, 1000, false))).toBe('busy');
    expect(reasonOf(() => seen.claim(did(2), 'k0', 0, 1000, false))).toBe('busy');
    // Established peers never draw on the strangers' pool, and still cannot replay.
    seen.claim(did(9), 'k0', 0, 1000, true);
    expect(reasonOf(() => seen.claim(did(9), 'k0', 0, 1000, true))).toBe('replayed');
    expect(reasonOf(() => seen.claim(did(0), 'k1', 0, 1000, false))).toBe('replayed');
    // Entries age out, and with them the refusal.
    seen.claim(did(2), 'k0', 1001, 2000, false);
    expect(seen.size).toBe(1);
  });
});
