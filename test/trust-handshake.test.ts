import { describe, expect, it } from 'vitest';
import { AgentIdentity } from '../src/identity/agent-identity.js';
import { didFromPublicKey } from '../src/identity/did.js';
import { fromBase64Any, toBase64Url, utf8 } from '../src/encoding.js';
import {
  InMemoryTrustNetwork,
  StaticTrustProvider,
  TrustConfigError,
  TrustError,
  TrustHandshake,
  type TrustFailureReason,
  type TrustProvider,
  type TrustTransport,
} from '../src/trust/index.js';
import { fakeClock, tapTransport } from './helpers/trust-agents.js';

type Tap = Parameters<typeof tapTransport>[1];

interface Party {
  id: AgentIdentity;
  did: string;
  hs: TrustHandshake;
  transport: TrustTransport;
}

/** Handshakes on one network; `taps` rewrite what a party sends. */
async function world(options: {
  scores?: Record<string, number>;
  min?: number;
  clock?: ReturnType<typeof fakeClock>;
  provider?: (ids: Record<'alice' | 'bob' | 'carol', AgentIdentity>) => TrustProvider;
  legacy?: boolean;
  extra?: Partial<ConstructorParameters<typeof TrustHandshake>[0]>;
} = {}) {
  const clock = options.clock ?? fakeClock();
  const network = new InMemoryTrustNetwork();
  const ids = { alice: await AgentIdentity.generate(), bob: await AgentIdentity.generate(), carol: await AgentIdentity.generate() };
  const didOf = (name: keyof typeof ids, i: number) => (options.legacy ? `did:mesh:${String(i).repeat(32)}` : ids[name].did);
  const dids = { alice: didOf('alice', 1), bob: didOf('bob', 2), carol: didOf('carol', 3) };
  const provider =
    options.provider?.(ids) ??
    new StaticTrustProvider(
      Object.fromEntries(
        (Object.keys(ids) as (keyof typeof ids)[]).map((n) => [
          dids[n],
          { score: options.scores?.[n] ?? 850, ...(options.legacy ? { publicKey: ids[n].publicKey } : {}) },
        ]),
      ),
    );
  const parties = {} as Record<keyof typeof ids, Party & { tap: (t: Tap) => void }>;
  for (const name of Object.keys(ids) as (keyof typeof ids)[]) {
    let tap: Tap = {};
    const inner = network.endpoint(dids[name]);
    const transport = tapTransport(inner, { request: (f, send) => (tap.request ? tap.request(f, send) : send(f)) });
    const hs = new TrustHandshake({
      identity: ids[name],
      agentDid: dids[name],
      trustProvider: provider,
      transport,
      minTrustScore: options.min ?? 700,
      now: clock.now,
      ...options.extra,
    });
    transport.listen(async (f) => (await hs.handleFrame(f)) ?? hs.errorFrame(f, 'unsupported', ''));
    parties[name] = { id: ids[name], did: dids[name], hs, transport, tap: (t) => (tap = t) };
  }
  return { ...parties, clock, network, provider };
}

async function refusal(promise: Promise<unknown>): Promise<TrustError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TrustError);
  return error as TrustError;
}

async function reason(promise: Promise<unknown>): Promise<TrustFailureReason> {
  return (await refusal(promise)).reason;
}

describe('trust handshake: mutual challenge–response', () => {
  it('proves each side to the other in one exchange', async () => {
    const { alice, bob } = await world({ scores: { alice: 780, bob: 910 } });
    const v = await alice.hs.verifyPeer(bob.did);
    expect(v.peerDid).toBe(bob.did);
    expect(v.publicKey).toEqual(bob.id.publicKey);
    expect(v.trustScore).toBe(910);
    expect(v.threshold).toBe(700);
    // Bob verified Alice against his own threshold during the same exchange.
    const back = bob.hs.cache.get(alice.did, 700);
    expect(back?.publicKey).toEqual(alice.id.publicKey);
    expect(back?.trustScore).toBe(780);
  });

  it("signs the reference's text challenge_id:nonce:response_nonce:agent_did", async () => {
    const { alice, bob } = await world();
    const seen: any[] = [];
    alice.tap({
      request: async (f, send) => {
        const answer: any = await send(f);
        seen.push([f, answer]);
        return answer;
      },
    });
    await alice.hs.verifyPeer(bob.did);
    const [challengeFrame, answer] = seen[0];
    const { challenge } = challengeFrame;
    expect(challenge.challenge_id).toMatch(/^challenge_[0-9a-f]{16}$/);
    expect(challenge.nonce).toMatch(/^[0-9a-f]{64}$/);
    expect(challenge.expires_in_seconds).toBe(30);
    const r = answer.response;
    const text = `${r.challenge_id}:${challenge.nonce}:${r.response_nonce}:${bob.did}`;
    expect(await AgentIdentity.verify(fromBase64Any(r.public_key), utf8(text), fromBase64Any(r.signature))).toBe(true);
    for (const frame of [challengeFrame, answer]) {
      expect(frame).toMatchObject({ v: 1 });
      expect(frame.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(Number.isFinite(Date.parse(frame.ts))).toBe(true);
    }
  });

  it('works for legacy did:mesh: names whose keys the provider knows', async () => {
    const { alice, bob } = await world({ legacy: true });
    expect((await alice.hs.verifyPeer(bob.did)).publicKey).toEqual(bob.id.publicKey);
  });
});

describe('trust handshake: every refusal reason', () => {
  it('invalid_did: a peer name that is not a DID, or this agent itself', async () => {
    const { alice } = await world();
    expect(await reason(alice.hs.verifyPeer('did:mesh:bob'))).toBe('invalid_did');
    expect(await reason(alice.hs.verifyPeer(42 as never))).toBe('invalid_did');
    expect(await reason(alice.hs.verifyPeer(alice.did))).toBe('invalid_did');
  });

  it('insufficient_trust: below the threshold, or unknown to the provider', async () => {
    const { alice, bob } = await world({ scores: { bob: 699 } });
    expect(await reason(alice.hs.verifyPeer(bob.did))).toBe('insufficient_trust');
    // Bob knows Alice (or he would refuse her challenge first); Alice does not know Bob.
    const other = await world({ provider: (ids) => new StaticTrustProvider({ [ids.alice.did]: 850 }) });
    expect(await reason(other.alice.hs.verifyPeer(other.bob.did))).toBe('insufficient_trust');
    // The other way round, Bob refuses before he signs anything: Alice reads his refusal.
    const unknown = await world({ provider: (ids) => new StaticTrustProvider({ [ids.bob.did]: 850 }) });
    const refused = await refusal(unknown.alice.hs.verifyPeer(unknown.bob.did));
    expect([refused.reason, refused.peerReason]).toEqual(['peer_refused', 'insufficient_trust']);
  });

  it('bad_signature: a response whose signature does not verify', async () => {
    const { alice, bob } = await world();
    alice.tap({
      request: async (f, send) => {
        const answer: any = await send(f);
        if (answer.type === 'trust_response') {
          const sig = fromBase64Any(answer.response.signature);
          sig[0]! ^= 1;
          answer.response.signature = toBase64Url(sig);
        }
        return answer;
      },
    });
    expect(await reason(alice.hs.verifyPeer(bob.did))).toBe('bad_signature');
  });

  it('expired: a challenge answered after its 30 s', async () => {
    const { alice, bob, clock } = await world();
    alice.tap({
      request: async (f, send) => {
        const answer = await send(f);
        if (f.type === 'trust_challenge') clock.advance(31_000);
        return answer;
      },
    });
    expect(await reason(alice.hs.verifyPeer(bob.did))).toBe('expired');
  });

  it('expired (peer side): a proof that reaches the peer after its counter-challenge expired', async () => {
    const { alice, bob, clock } = await world();
    alice.tap({
      request: async (f, send) => {
        if (f.type === 'trust_proof') clock.advance(31_000);
        return send(f);
      },
    });
    const error = await refusal(alice.hs.verifyPeer(bob.did));
    expect(error.reason).toBe('peer_refused');
    expect(error.peerReason).toBe('expired');
  });

  it('replayed: an earlier handshake response played back', async () => {
    const { alice, bob } = await world();
    let recorded: unknown;
    alice.tap({
      request: async (f, send) => {
        const answer = await send(f);
        if (f.type === 'trust_challenge') recorded ??= answer;
        return answer;
      },
    });
    await alice.hs.verifyPeer(bob.did);
    // Second exchange: the network answers the new challenge with the recorded response.
    alice.tap({ request: async (f, send) => (f.type === 'trust_challenge' ? recorded : send(f)) });
    expect(await reason(alice.hs.verifyPeer(bob.did, { useCache: false }))).toBe('replayed');
  });

  it('replayed (peer side): a proof delivered twice', async () => {
    const { alice, bob } = await world();
    let proof: unknown;
    alice.tap({
      request: async (f, send) => {
        if (f.type === 'trust_proof') proof = structuredClone(f);
        return send(f);
      },
    });
    await alice.hs.verifyPeer(bob.did);
    const again: any = await bob.hs.handleFrame(proof);
    expect(again).toMatchObject({ type: 'trust_result', verified: false, reason: 'replayed' });
  });

  it('unknown_challenge: a response to a challenge this agent never issued', async () => {
    const { alice, bob } = await world();
    alice.tap({
      request: async (f, send) => {
        const answer: any = await send(f);
        if (answer.type === 'trust_response') answer.response.challenge_id = 'challenge_0123456789abcdef';
        return answer;
      },
    });
    expect(await reason(alice.hs.verifyPeer(bob.did))).toBe('unknown_challenge');
  });

  it('wrong_peer: an answer from someone else, or a response naming another DID', async () => {
    const { alice, bob, carol } = await world();
    // The network hands Alice's challenge for Bob to Carol, who answers as herself.
    alice.tap({ request: async (f, send) => send({ ...f, to: carol.did }) });
    expect(await reason(alice.hs.verifyPeer(bob.did))).toBe('wrong_peer');
    // Carol's genuine response relabelled as coming from Bob.
    alice.tap({
      request: async (f, send) => {
        const answer: any = await send({ ...f, to: carol.did });
        return { ...answer, from: bob.did };
      },
    });
    expect(await reason(alice.hs.verifyPeer(bob.did))).toBe('wrong_peer');
  });

  it('wrong_peer (peer side): a proof for a counter-challenge issued to someone else', async () => {
    const { alice, bob, carol } = await world();
    let heldProof: any;
    alice.tap({
      request: async (f, send) => {
        if (f.type !== 'trust_proof') return send(f);
        heldProof = f;
        return new Promise(() => {});
      },
    });
    void alice.hs.verifyPeer(bob.did).catch(() => undefined);
    while (!heldProof) await new Promise((r) => setTimeout(r, 1));
    // Carol answers the counter-challenge Bob issued to Alice, as herself and with her own key.
    const r = heldProof.response;
    const forged = { ...heldProof, from: carol.did, response: { ...r, agent_did: carol.did, public_key: toBase64Url(carol.id.publicKey) } };
    expect(await bob.hs.handleFrame(forged)).toMatchObject({ type: 'trust_result', verified: false, reason: 'wrong_peer' });
  });

  it('unknown_key: a legacy name the trust provider knows no key for', async () => {
    const { alice, bob } = await world({
      legacy: true,
      provider: () => new StaticTrustProvider({ ['did:mesh:' + '2'.repeat(32)]: 900, ['did:mesh:' + '1'.repeat(32)]: 900 }),
    });
    expect(await reason(alice.hs.verifyPeer(bob.did))).toBe('unknown_key');
  });

  it('invalid_key: the DID of a small-order key, "proved" by the universal signature, is refused', async () => {
    // did:agentmesh: of the identity point; R = identity, S = 0 verifies under it on lax verifiers
    // (node:crypto, WebCrypto, workerd), so before the strict rule this DID passed the handshake.
    const identityPoint = new Uint8Array(32);
    identityPoint[0] = 1;
    const keyless = didFromPublicKey(identityPoint);
    const { alice, bob, network } = await world({
      provider: (ids) => new StaticTrustProvider({ [ids.alice.did]: 900, [ids.bob.did]: 900, [keyless]: 1000 }),
    });
    // The keyless DID's endpoint relays every frame to Bob and answers as itself, with its own claim.
    network.endpoint(keyless).listen(async (f: any) => {
      const answer: any = await bob.transport.request({ ...f, to: bob.did });
      answer.from = keyless;
      if (answer.type === 'trust_response') {
        answer.response.agent_did = keyless;
        answer.response.public_key = toBase64Url(identityPoint);
        answer.response.signature = toBase64Url(new Uint8Array([...identityPoint, ...new Uint8Array(32)]));
      }
      return answer;
    });
    const error = await refusal(alice.hs.verifyPeer(keyless));
    expect(error.reason).toBe('invalid_key');
    expect(error.message).toMatch(/small order/);
    expect(alice.hs.cache.get(keyless, 700)).toBeNull();
  });

  it('did_key_mismatch: a key that is not the one the DID names (derived and legacy)', async () => {
    const { alice, bob, carol } = await world();
    // Carol signs Bob's text with her own key: a valid signature, under the wrong key for Bob's DID.
    alice.tap({
      request: async (f, send) => {
        const answer: any = await send(f);
        if (answer.type === 'trust_response') {
          const r = answer.response;
          const text = `${r.challenge_id}:${f.challenge.nonce}:${r.response_nonce}:${bob.did}`;
          r.public_key = toBase64Url(carol.id.publicKey);
          r.signature = toBase64Url(await carol.id.sign(utf8(text)));
        }
        return answer;
      },
    });
    expect(await reason(alice.hs.verifyPeer(bob.did))).toBe('did_key_mismatch');

    const legacy = await world({
      legacy: true,
      provider: (ids) =>
        new StaticTrustProvider({
          ['did:mesh:' + '1'.repeat(32)]: { score: 900, publicKey: ids.alice.publicKey },
          ['did:mesh:' + '2'.repeat(32)]: { score: 900, publicKey: ids.carol.publicKey },
        }),
    });
    expect(await reason(legacy.alice.hs.verifyPeer(legacy.bob.did))).toBe('did_key_mismatch');
  });

  it('malformed: answers that do not parse, or lack fields', async () => {
    const { alice, bob } = await world();
    for (const bad of [null, 'not json', '{}', { v: 1 }, 'x'.repeat(100_000)]) {
      alice.tap({ request: async () => bad });
      expect(await reason(alice.hs.verifyPeer(bob.did))).toBe('malformed');
    }
    alice.tap({
      request: async (f, send) => {
        const answer: any = await send(f);
        delete answer.response.public_key;
        return answer;
      },
    });
    expect(await reason(alice.hs.verifyPeer(bob.did))).toBe('malformed');
    alice.tap({
      request: async (f, send) => {
        const answer: any = await send(f);
        answer.challenge.expires_in_seconds = 86_400; // a counter-challenge past the limit
        return answer;
      },
    });
    expect(await reason(alice.hs.verifyPeer(bob.did))).toBe('malformed');
    alice.tap({ request: async (f, send) => ({ ...((await send(f)) as object), type: 'trust_result' }) });
    expect(await reason(alice.hs.verifyPeer(bob.did))).toBe('malformed');
  });

  it('transport: nobody listens, the transport fails, or the peer is silent', async () => {
    const { alice, bob } = await world();
    expect(await reason(alice.hs.verifyPeer((await AgentIdentity.generate()).did))).toBe('transport');
    alice.tap({
      request: async () => {
        throw new Error('socket closed');
      },
    });
    expect(await reason(alice.hs.verifyPeer(bob.did))).toBe('transport');
    // A failed exchange withdraws its challenge: with room for one, the next attempt is not refused as busy.
    const roomForOne = await world({ extra: { maxPendingChallenges: 1 } });
    roomForOne.alice.tap({
      request: async () => {
        throw new Error('socket closed');
      },
    });
    expect(await reason(roomForOne.alice.hs.verifyPeer(roomForOne.bob.did))).toBe('transport');
    expect(await reason(roomForOne.alice.hs.verifyPeer(roomForOne.bob.did))).toBe('transport');
    const slow = await world({ extra: { timeoutMs: 20 } });
    slow.alice.tap({ request: () => new Promise(() => {}) });
    expect(await reason(slow.alice.hs.verifyPeer(slow.bob.did))).toBe('transport');
  });

  it('peer_refused: the peer refuses this agent, or answers with an error frame', async () => {
    const { alice, bob } = await world({ scores: { alice: 300 } });
    const error = await refusal(alice.hs.verifyPeer(bob.did));
    expect(error.reason).toBe('peer_refused');
    expect(error.peerReason).toBe('insufficient_trust');
    // Alice does not cache a peer that refused her.
    expect(alice.hs.cache.get(bob.did, 0)).toBeNull();
    // Bob can hold one counter-challenge; Alice's proof is held back, so Carol's challenge finds him busy.
    const busy = await world({ extra: { maxPendingChallenges: 1 } });
    let release: (() => void) | undefined;
    busy.alice.tap({ request: async (f, send) => (f.type === 'trust_proof' ? new Promise<unknown>((r) => (release = () => r(send(f)))) : send(f)) });
    const held = busy.alice.hs.verifyPeer(busy.bob.did);
    while (!release) await new Promise((r) => setTimeout(r, 1));
    const refusedBusy = await refusal(busy.carol.hs.verifyPeer(busy.bob.did));
    expect(refusedBusy.reason).toBe('peer_refused');
    expect(refusedBusy.peerReason).toBe('busy');
    release!();
    await held;
  });

  it('provider_error: a provider that throws or answers outside 0–1000', async () => {
    // The provider fails on Bob only: Bob, asked about Alice first, answers.
    const throwing = await world({
      provider: (ids) => ({
        getTrustScore: async (did) => {
          if (did === ids.bob.did) throw new Error('registry down');
          return 850;
        },
        getPublicKey: async () => null,
      }),
    });
    expect(await reason(throwing.alice.hs.verifyPeer(throwing.bob.did))).toBe('provider_error');
    const silly = await world({ provider: (ids) => ({ getTrustScore: async (did) => (did === ids.bob.did ? 1500 : 850), getPublicKey: async () => null }) });
    expect(await reason(silly.alice.hs.verifyPeer(silly.bob.did))).toBe('provider_error');
    const badKey = await world({
      legacy: true,
      provider: () => ({ getTrustScore: async () => 900, getPublicKey: async () => new Uint8Array(5) }),
    });
    expect(await reason(badKey.alice.hs.verifyPeer(badKey.bob.did))).toBe('provider_error');
  });

  it('busy: too many of this agent’s own challenges outstanding', async () => {
    const { alice, bob } = await world({ extra: { maxPendingChallenges: 1 } });
    let release!: () => void;
    alice.tap({ request: async (f, send) => (f.type === 'trust_challenge' ? new Promise<unknown>((r) => (release = () => r(send(f)))) : send(f)) });
    const first = alice.hs.verifyPeer(bob.did);
    expect(await reason(alice.hs.verifyPeer(bob.did))).toBe('busy');
    release();
    await first;
  });
});

describe('trust handshake: the responder never throws on bad input', () => {
  it('answers garbage with error frames', async () => {
    const { alice, bob } = await world();
    for (const bad of [undefined, 17, 'x'.repeat(70_000), '{"v":1}', { v: 2 }, [], { v: 1, type: 'trust_challenge', from: 'me' }]) {
      const answer: any = await bob.hs.handleFrame(bad);
      expect(answer).toMatchObject({ type: 'error', code: 'malformed', from: bob.did });
    }
    const valid = { v: 1, type: 'trust_challenge', from: alice.did, to: bob.did, id: crypto.randomUUID(), ts: new Date().toISOString() };
    expect(await bob.hs.handleFrame({ ...valid, challenge: { challenge_id: 'a:b', nonce: 'n'.repeat(20), timestamp: 't', expires_in_seconds: 30 } })).toMatchObject({ code: 'malformed', to: alice.did });
    expect(await bob.hs.handleFrame({ ...valid, to: alice.did, challenge: {} })).toMatchObject({ code: 'wrong_peer' });
    expect(await bob.hs.handleFrame({ ...valid, type: 'trust_proof', response: { challenge_id: 'x' } })).toMatchObject({ type: 'trust_result', verified: false, reason: 'malformed' });
    expect(await bob.hs.handleFrame({ ...valid, type: 'message' })).toBeNull();
  });

  it('refuses options that cannot work', async () => {
    const id = await AgentIdentity.generate();
    const base = { identity: id, agentDid: id.did, trustProvider: new StaticTrustProvider(), transport: new InMemoryTrustNetwork().endpoint(id.did) };
    expect(() => new TrustHandshake({ ...base, challengeSeconds: 0 })).toThrow(TrustConfigError);
    expect(() => new TrustHandshake({ ...base, challengeSeconds: 301 })).toThrow(TrustConfigError);
    expect(() => new TrustHandshake({ ...base, timeoutMs: 0 })).toThrow(TrustConfigError);
    expect(() => new TrustHandshake({ ...base, minTrustScore: -1 })).toThrow(TrustConfigError);
    expect(() => new TrustHandshake({ ...base, cacheTtlMs: -1 })).toThrow(TrustConfigError);
    const hs = new TrustHandshake(base);
    await expect(hs.verifyPeer((await AgentIdentity.generate()).did, { minTrustScore: 2000 })).rejects.toBeInstanceOf(TrustConfigError);
  });
});
