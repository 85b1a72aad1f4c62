import { describe, expect, it } from 'vitest';
import { fromBase64Any, toBase64Url, utf8 } from '../src/encoding.js';
import { AgentIdentity } from '../src/identity/agent-identity.js';
import { didFromPublicKey } from '../src/identity/did.js';
import {
  InvalidTrustFrameError,
  KnockExchange,
  StaticTrustProvider,
  TrustError,
  canonicalJson,
  defaultKnockPolicy,
  signFrame,
  type KnockIntent,
} from '../src/trust/index.js';
import { bridgePair, fakeClock, makeAgent } from './helpers/trust-agents.js';

const intent = (over: Partial<KnockIntent> = {}): KnockIntent => ({
  action: 'payments.transfer',
  description: 'move funds between two accounts',
  capabilitiesRequired: ['payments'],
  trustMinimum: 700,
  ...over,
});

async function knockWorld(options: Parameters<typeof bridgePair>[0] = {}) {
  return bridgePair({ ...options, bob: { capabilities: ['payments', 'reports'], ...options.bob } });
}

/** Bob's bridge, wrapped so a test can rewrite frames on the way in and answers on the way out. */
function intercept(bridge: { handleFrame(f: unknown): Promise<any> }, rewrite: { in?: (f: any) => any; out?: (a: any) => any }) {
  const original = bridge.handleFrame.bind(bridge);
  bridge.handleFrame = async (f: unknown) => {
    const answer = await original(rewrite.in ? rewrite.in(structuredClone(f)) : f);
    return rewrite.out ? rewrite.out(structuredClone(answer)) : answer;
  };
}

describe('KNOCK: signed intents and signed answers', () => {
  it('accepts under the default policy, granting conditions limited to the intent’s action', async () => {
    const { b, alice } = await knockWorld();
    const outcome = await alice.knock(b.did, intent());
    expect(outcome).toMatchObject({
      accepted: true,
      peerDid: b.did,
      conditions: { maxMessages: 1000, ttlSeconds: 3600, allowedActions: ['payments.transfer'] },
    });
  });

  it('rejects with a reason: trust below the intent’s minimum, missing capabilities, actions not allowed', async () => {
    const { b, alice } = await knockWorld({ aliceScore: 800 });
    expect(await alice.knock(b.did, intent({ trustMinimum: 900 }))).toMatchObject({ accepted: false, reason: 'insufficient_trust' });
    expect(await alice.knock(b.did, intent({ capabilitiesRequired: ['payments', 'root'] }))).toMatchObject({ accepted: false, reason: 'missing_capabilities' });
    const strict = await knockWorld({ bob: { knockPolicy: defaultKnockPolicy({ minTrustScore: 700, capabilities: ['payments'], allowedActions: ['reports.read'] }) } });
    expect(await strict.alice.knock(strict.b.did, intent())).toMatchObject({ accepted: false, reason: 'action_not_allowed' });
    // The default policy applies the recipient's own floor even when the intent asks less.
    const floor = defaultKnockPolicy({ minTrustScore: 900, capabilities: ['payments'] });
    expect(await floor({ knockId: 'k', peerDid: b.did, intent: intent({ trustMinimum: 0 }), trustScore: 850, actionEnvelope: true })).toEqual({ accept: false, reason: 'insufficient_trust' });
    expect(await floor({ knockId: 'k', peerDid: b.did, intent: intent(), trustScore: null, actionEnvelope: true })).toEqual({ accept: false, reason: 'insufficient_trust' });
  });

  it('hands the policy callback the verified request and uses its conditions', async () => {
    const seen: unknown[] = [];
    const { a, b, alice } = await knockWorld({
      aliceScore: 777,
      bob: {
        knockPolicy: (request) => {
          seen.push(request);
          return { accept: true, conditions: { maxMessages: 5, ttlSeconds: 30 } };
        },
      },
    });
    const outcome = await alice.knock(b.did, intent());
    expect(outcome).toMatchObject({ accepted: true, conditions: { maxMessages: 5, ttlSeconds: 30, allowedActions: ['payments.transfer'] } });
    expect(seen).toEqual([{ knockId: outcome.knockId, peerDid: a.did, intent: intent(), trustScore: 777, actionEnvelope: true }]);
  });

  it('refuses on behalf of a policy that fails, grants nonsense, or gives an unreadable reason', async () => {
    const failing = await knockWorld({
      bob: {
        knockPolicy: () => {
          throw new Error('policy engine down');
        },
      },
    });
    expect(await failing.alice.knock(failing.b.did, intent())).toMatchObject({ accepted: false, reason: 'policy_error' });
    const nonsense = await knockWorld({ bob: { knockPolicy: () => ({ accept: true, conditions: { maxMessages: 0 } }) } });
    expect(await nonsense.alice.knock(nonsense.b.did, intent())).toMatchObject({ accepted: false, reason: 'policy_error' });
    const odd = await knockWorld({ bob: { knockPolicy: () => ({ accept: false, reason: 'x'.repeat(500) }) } });
    expect(await odd.alice.knock(odd.b.did, intent())).toMatchObject({ accepted: false, reason: 'rejected' });
  });

  it('signs Ed25519 over the canonical JSON of the whole frame minus signature', async () => {
    const { a, b, alice, bob } = await knockWorld();
    let knock: any;
    let answer: any;
    intercept(bob, {
      in: (f) => (f.type === 'knock' ? (knock = f) : f),
      out: (x) => (x.type === 'knock_accept' ? (answer = x) : x),
    });
    await alice.knock(b.did, intent());
    expect(knock).toMatchObject({ v: 1, type: 'knock', from: a.did, to: b.did, intent: { action: 'payments.transfer', capabilities_required: ['payments'], trust_minimum: 700 } });
    expect(answer).toMatchObject({ type: 'knock_accept', knock_id: knock.id, conditions: { max_messages: 1000, ttl_seconds: 3600, allowed_actions: ['payments.transfer'] } });
    for (const [frame, id] of [
      [knock, a.identity],
      [answer, b.identity],
    ] as const) {
      const { signature, ...rest } = frame;
      expect(await AgentIdentity.verify(id.publicKey, utf8(canonicalJson(rest)), fromBase64Any(signature))).toBe(true);
    }
  });

  it('the recipient refuses a tampered, replayed, stale or wrongly keyed KNOCK', async () => {
    const clock = fakeClock();
    const { b, alice, bob } = await knockWorld({ now: clock.now });
    intercept(bob, { in: (f) => (f.type === 'knock' ? { ...f, intent: { ...f.intent, trust_minimum: 0 } } : f) });
    const tampered = (await alice.knock(b.did, intent()).catch((e: unknown) => e)) as TrustError;
    expect(tampered.reason).toBe('peer_refused');
    expect(tampered.peerReason).toBe('bad_signature');

    const { a: a2, b: b2, bob: bob2, provider } = await knockWorld({ now: clock.now });
    // Alice's side of the exchange, driven by hand so the same frame can be delivered twice.
    const exchange = new KnockExchange({ agentDid: a2.did, identity: a2.identity, trustProvider: provider, policy: () => ({ accept: false, reason: 'no' }), now: clock.now });
    const frame = await exchange.createKnock(b2.did, intent());
    expect(await bob2.handleFrame(frame)).toMatchObject({ type: 'knock_accept', knock_id: frame.id });
    expect(await bob2.handleFrame(frame)).toMatchObject({ type: 'error', code: 'replayed', to: a2.did });
    // Two copies racing each other: one answer, one refusal.
    const racing = await exchange.createKnock(b2.did, intent());
    const answers = await Promise.all([bob2.handleFrame(racing), bob2.handleFrame(racing)]);
    expect(answers.map((x) => x.type).sort()).toEqual(['error', 'knock_accept']);
    const stale = await exchange.createKnock(b2.did, intent());
    clock.advance(5 * 60 * 1000 + 1);
    expect(await bob2.handleFrame(stale)).toMatchObject({ type: 'error', code: 'expired' });
    // A knock signed by Mallory but carrying Alice's DID and Mallory's key.
    const mallory = await makeAgent();
    const forged = await signFrame({ ...(await exchange.createKnock(b2.did, intent())), public_key: toBase64Url(mallory.identity.publicKey) }, mallory.identity);
    expect(await bob2.handleFrame(forged)).toMatchObject({ type: 'error', code: 'did_key_mismatch' });
  });

  it('a KNOCK from the DID of a small-order key, "signed" with the universal signature, is refused as invalid_key', async () => {
    const { a, b, bob, provider } = await knockWorld();
    const identityPoint = new Uint8Array(32);
    identityPoint[0] = 1;
    const keyless = didFromPublicKey(identityPoint);
    (provider as StaticTrustProvider).set(keyless, 1000);
    const exchange = new KnockExchange({ agentDid: a.did, identity: a.identity, trustProvider: provider, policy: () => ({ accept: true }) });
    const knock = { ...(await exchange.createKnock(b.did, intent())), from: keyless, public_key: toBase64Url(identityPoint) };
    const forged = { ...knock, signature: toBase64Url(new Uint8Array([...identityPoint, ...new Uint8Array(32)])) };
    expect(await bob.handleFrame(forged)).toMatchObject({ type: 'error', code: 'invalid_key' });
  });

  it('a forged copy does not burn the genuine KNOCK’s id', async () => {
    const { a, b, bob, provider } = await knockWorld();
    const exchange = new KnockExchange({ agentDid: a.did, identity: a.identity, trustProvider: provider, policy: () => ({ accept: true }) });
    const genuine = await exchange.createKnock(b.did, intent());
    expect(await bob.handleFrame({ ...genuine, intent: { ...(genuine.intent as object), trust_minimum: 1 } })).toMatchObject({ code: 'bad_signature' });
    expect(await bob.handleFrame(genuine)).toMatchObject({ type: 'knock_accept' });
  });

  it('verifies a KNOCK without a key of its own (the reference form) by the handshake’s proven key or the provider', async () => {
    const { a, b, alice, bob, provider } = await knockWorld();
    const bare = async () => {
      const exchange = new KnockExchange({ agentDid: a.did, identity: a.identity, trustProvider: provider, policy: () => ({ accept: true }) });
      const { public_key: _k, signature: _s, ...rest } = (await exchange.createKnock(b.did, intent())) as any;
      return signFrame(rest, a.identity);
    };
    expect(await bob.handleFrame(await bare())).toMatchObject({ type: 'error', code: 'unknown_key' });
    await alice.verifyPeer(b.did); // Bob learns Alice's key in the mutual handshake
    expect(await bob.handleFrame(await bare())).toMatchObject({ type: 'knock_accept' });
    (provider as StaticTrustProvider).set(a.did, { score: 850, publicKey: a.identity.publicKey });
    bob.handshake.cache.clear();
    expect(await bob.handleFrame(await bare())).toMatchObject({ type: 'knock_accept' });
  });

  it('the knocker refuses an answer that is tampered, signed by another key, or for another knock', async () => {
    const { b, alice, bob } = await knockWorld();
    intercept(bob, { out: (x) => (x.type === 'knock_accept' ? { ...x, conditions: { ...x.conditions, max_messages: 1_000_000 } } : x) });
    expect(((await alice.knock(b.did, intent()).catch((e: unknown) => e)) as TrustError).reason).toBe('bad_signature');

    const second = await knockWorld();
    const mallory = await makeAgent();
    // Bob's answer re-signed by Mallory: well formed, wrong key.
    const original = second.bob.handleFrame.bind(second.bob);
    second.bob.handleFrame = async (f: unknown) => {
      const answer = await original(f);
      return answer.type === 'knock_accept' ? signFrame(answer, mallory.identity) : answer;
    };
    expect(((await second.alice.knock(second.b.did, intent()).catch((e: unknown) => e)) as TrustError).reason).toBe('bad_signature');

    const third = await knockWorld();
    intercept(third.bob, { out: (x) => (x.type === 'knock_accept' ? { ...x, knock_id: '00000000-0000-4000-8000-000000000000' } : x) });
    expect(((await third.alice.knock(third.b.did, intent()).catch((e: unknown) => e)) as TrustError).reason).toBe('unknown_challenge');

    // A genuine answer that arrives after the freshness window.
    const clock = fakeClock();
    const late = await knockWorld({ now: clock.now });
    intercept(late.bob, {
      out: (x) => {
        if (x.type === 'knock_accept') clock.advance(5 * 60 * 1000 + 1);
        return x;
      },
    });
    expect(((await late.alice.knock(late.b.did, intent()).catch((e: unknown) => e)) as TrustError).reason).toBe('expired');

    const fourth = await knockWorld();
    intercept(fourth.bob, { out: (x) => (x.type === 'knock_accept' ? { ...x, conditions: { max_messages: 'many' } } : x) });
    expect(((await fourth.alice.knock(fourth.b.did, intent()).catch((e: unknown) => e)) as TrustError).reason).toBe('malformed');
  });

  it('refuses an intent that breaks the limits with a typed error, before any network', async () => {
    const { b, alice } = await knockWorld();
    const bad: Partial<KnockIntent>[] = [
      { action: 'transfer money' },
      { action: '' },
      { description: 'x'.repeat(2000) },
      { capabilitiesRequired: Array.from({ length: 65 }, (_, i) => `c${i}`) },
      { capabilitiesRequired: 'payments' as never },
      { capabilitiesRequired: [''] },
      { trustMinimum: 1001 },
      { trustMinimum: 0.5 },
    ];
    for (const over of bad) await expect(alice.knock(b.did, intent(over))).rejects.toBeInstanceOf(InvalidTrustFrameError);
    expect(alice.handshake.cache.size).toBe(0);
    await expect(alice.knock('did:mesh:bob', intent())).rejects.toBeInstanceOf(TrustError);
  });

  it('answers malformed KNOCK frames with error frames', async () => {
    const { a, b, bob } = await knockWorld();
    const base = { v: 1, type: 'knock', from: a.did, to: b.did, id: crypto.randomUUID(), ts: new Date().toISOString() };
    for (const bad of [
      { ...base },
      { ...base, intent: {}, signature: 'AA' },
      { ...base, intent: { action: 'a', description: 'd', capabilities_required: [], trust_minimum: 1 }, signature: 'A'.repeat(86), public_key: 'short' },
      { ...base, to: a.did, intent: {}, signature: '' },
    ]) {
      const answer = await bob.handleFrame(bad);
      expect(answer.type).toBe('error');
      expect(['malformed', 'wrong_peer']).toContain(answer.code);
    }
  });
});
