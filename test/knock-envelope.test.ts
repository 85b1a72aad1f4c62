import { describe, expect, it } from 'vitest';
import { SecureChannel } from '../src/channel/secure-channel.js';
import { fromUtf8, toHex, utf8 } from '../src/encoding.js';
import { AuthenticationError, InvalidMessageError } from '../src/errors.js';
import { TrustedChannel, type ReceivePolicyContext } from '../src/bridge/index.js';
import {
  ActionNotAllowedError,
  ChannelConditionError,
  ConditionGuard,
  KnockExchange,
  signFrame,
  TrustError,
  type ChannelConditions,
  type KnockIntent,
} from '../src/trust/index.js';
import { defaultKnockPolicy } from '../src/trust/knock-policy.js';
import { openEnvelope, sealEnvelope } from '../src/wire/action-envelope.js';
import { EncryptedMessage } from '../src/wire/encrypted-message.js';
import { managerFromSeed } from './helpers/session.js';
import { bridgePair, fakeClock } from './helpers/trust-agents.js';
import { hex, replayProvider, vectors } from './helpers/vectors.js';

const intent: KnockIntent = { action: 'reports.read', description: 'read the weekly report', capabilitiesRequired: [], trustMinimum: 0 };

/** Bob's bridge, wrapped so a test can rewrite frames on the way in and answers on the way out. */
function intercept(bridge: { handleFrame(f: unknown): Promise<any> }, rewrite: { in?: (f: any) => any; out?: (a: any) => any }) {
  const original = bridge.handleFrame.bind(bridge);
  bridge.handleFrame = async (f: unknown) => {
    const answer = await original(rewrite.in ? await rewrite.in(structuredClone(f)) : f);
    return rewrite.out ? rewrite.out(structuredClone(answer)) : answer;
  };
}

function withoutSignature(frame: any) {
  const { signature: _s, ...rest } = frame;
  return rest;
}

/** What a v1 agent sends: the same frame without the envelope offer, signed by its sender. */
function withoutOffer(frame: any, identity: Parameters<typeof signFrame>[1]) {
  const { signature: _s, action_envelope: _e, ...rest } = frame;
  return signFrame(rest, identity);
}

/**
 * Alice knocked and Bob granted `allowed`. Alice then ignores the grant: she opens a plain channel
 * with the bridge's associated data and writes whatever envelope she likes. Bob accepts it through
 * his bridge, so his side runs under the grant.
 */
async function grantedThenIgnored(allowed: string[] = ['reports.read']) {
  const clock = fakeClock();
  const world = await bridgePair({ now: clock.now, bob: { knockPolicy: () => ({ accept: true, conditions: { allowedActions: allowed } }) } });
  const { a, b, alice, bob } = world;
  expect(await alice.knock(b.did, intent)).toMatchObject({ accepted: true, actionEnvelope: true });
  const bundle = await bob.publishPrekeyBundle();
  await alice.verifyPeer(b.did);
  const [plain, establishment] = await SecureChannel.createSender(a.keyManager, bundle, utf8(`${a.did}|${b.did}`));
  const bobChannel = await bob.acceptSecureChannel(a.did, establishment);
  const send = (action: string | null, text: string) => plain.send(sealEnvelope(action, utf8(text)));
  return { ...world, clock, plain, bobChannel, send, establishment, bundle };
}

async function refusal(promise: Promise<unknown>): Promise<ActionNotAllowedError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ActionNotAllowedError);
  return error as ActionNotAllowedError;
}

describe('KNOCK allowed_actions: the granting side checks every message it receives', () => {
  it('refuses an action outside the grant with a typed error, changes nothing, and reads the next allowed message', async () => {
    const { bobChannel, send } = await grantedThenIgnored(['reports.read', 'reports.list']);
    expect(bobChannel.actionEnvelope).toBe(true);
    // The first message forces Bob's first DH ratchet step: refused, it must not take that step.
    const before = bobChannel.snapshot();
    const forbidden = await send('payments.transfer', 'move 1000 EUR');
    const error = await refusal(bobChannel.receive(forbidden));
    expect(error).toBeInstanceOf(ChannelConditionError);
    expect(error).toMatchObject({
      code: 'action_not_allowed',
      condition: 'allowed_actions',
      direction: 'receive',
      action: 'payments.transfer',
      allowedActions: ['reports.read', 'reports.list'],
    });
    expect(bobChannel.snapshot()).toEqual(before);
    expect(bobChannel.messageCount).toBe(0);
    // Refused again, not taken for a replay: the first copy left no trace.
    await refusal(bobChannel.receive(forbidden));
    // A message naming no action is outside a non-empty grant too.
    await refusal(bobChannel.receive(await send(null, 'no action')));
    expect(bobChannel.snapshot()).toEqual(before);

    const allowed = await bobChannel.receiveWithIntent(await send('reports.list', 'list them'));
    expect({ text: fromUtf8(allowed.plaintext), intent: allowed.intent }).toEqual({ text: 'list them', intent: 'reports.list' });
    // In the middle of a chain as well.
    const mid = bobChannel.snapshot();
    await refusal(bobChannel.receive(await send('admin.delete', 'drop it')));
    expect(bobChannel.snapshot()).toEqual(mid);
    expect(fromUtf8(await bobChannel.receive(await send('reports.read', 'read it')))).toBe('read it');
    expect(bobChannel.messageCount).toBe(2);
  });

  it('a refused message whose key waits in the skipped-key cache keeps that key, and the cache still serves its neighbours', async () => {
    const { bobChannel, send } = await grantedThenIgnored();
    const m0 = await send('reports.read', 'zero');
    const m1 = await send('payments.transfer', 'one');
    const m2 = await send('reports.read', 'two');
    expect(fromUtf8(await bobChannel.receive(m2))).toBe('two');
    const withCache = bobChannel.snapshot();
    expect(Object.keys(withCache.state.skipped_keys)).toHaveLength(2);
    await refusal(bobChannel.receive(m1));
    expect(bobChannel.snapshot()).toEqual(withCache);
    expect(fromUtf8(await bobChannel.receive(m0))).toBe('zero');
  });

  it('a refusal under a retained signed pre-key (the establishment names none) is a refusal too, not an authentication failure', async () => {
    const { a, b, alice, bob } = await bridgePair({ bob: { knockPolicy: () => ({ accept: true }) } });
    await alice.knock(b.did, intent);
    const bundle = await bob.publishPrekeyBundle();
    await b.keyManager.generateSignedPreKey(); // the bundle's key is now retained, tried after the current one
    await alice.verifyPeer(b.did);
    const [plain, est] = await SecureChannel.createSender(a.keyManager, bundle, utf8(`${a.did}|${b.did}`));
    const bobChannel = await bob.acceptSecureChannel(a.did, { ...est, signedPreKeyId: null });
    const before = bobChannel.snapshot();
    await refusal(bobChannel.receive(await plain.send(sealEnvelope('payments.transfer', utf8('x')))));
    expect(bobChannel.snapshot()).toEqual(before);
    expect(fromUtf8(await bobChannel.receive(await plain.send(sealEnvelope('reports.read', utf8('ok')))))).toBe('ok');
  });

  it('a relabelled action fails authentication: the action is inside the AEAD plaintext', async () => {
    const { a, b, alice, bob } = await bridgePair({ bob: { knockPolicy: () => ({ accept: true, conditions: { allowedActions: ['reports.read', 'reports.list'] } }) } });
    await alice.knock(b.did, intent);
    const channel = await alice.openSecureChannel(b.did, await bob.publishPrekeyBundle());
    const bobChannel = await bob.acceptSecureChannel(a.did, alice.getSession(b.did)!.establishment!);
    const message = await channel.send(utf8('body'), { intent: 'reports.read' });
    // ChaCha20 is a stream cipher: XOR "read" into "list" where the action sits (after the 12-byte
    // nonce, the 3-byte envelope head and "reports.").
    const at = 12 + 3 + 'reports.'.length;
    const relabelled = new Uint8Array(message.ciphertext);
    for (let i = 0; i < 4; i++) relabelled[at + i]! ^= 'read'.charCodeAt(i) ^ 'list'.charCodeAt(i);
    const before = bobChannel.snapshot();
    await expect(bobChannel.receive(new EncryptedMessage(message.header, relabelled))).rejects.toBeInstanceOf(AuthenticationError);
    expect(bobChannel.snapshot()).toEqual(before);
    const genuine = await bobChannel.receiveWithIntent(message);
    expect([fromUtf8(genuine.plaintext), genuine.intent]).toEqual(['body', 'reports.read']);
  });

  it('a message without a readable envelope on an enveloped channel is refused and changes nothing', async () => {
    const { bobChannel, plain, send } = await grantedThenIgnored();
    const before = bobChannel.snapshot();
    for (const bytes of [utf8('plain v1 text'), new Uint8Array([1, 0]), new Uint8Array([1, 0, 9, 0x72]), new Uint8Array([1, 0, 1, 0xff])]) {
      await expect(bobChannel.receive(await plain.send(bytes))).rejects.toBeInstanceOf(InvalidMessageError);
    }
    expect(bobChannel.snapshot()).toEqual(before);
    expect(fromUtf8(await bobChannel.receive(await send('reports.read', 'fine')))).toBe('fine');
  });

  it('both sides check: the knocker refuses actions outside the grant from the granting side too', async () => {
    const { a, b, alice, bob } = await bridgePair({ bob: { knockPolicy: () => ({ accept: true }) } });
    await alice.knock(b.did, intent);
    // Bob opens this time; his raw channel bypasses his own guard.
    const bundle = await alice.publishPrekeyBundle();
    await bob.verifyPeer(a.did);
    const [plain, est] = await SecureChannel.createSender(b.keyManager, bundle, utf8(`${b.did}|${a.did}`));
    const aliceChannel = await alice.acceptSecureChannel(b.did, est);
    expect(aliceChannel.actionEnvelope).toBe(true);
    await refusal(aliceChannel.receive(await plain.send(sealEnvelope('payments.transfer', utf8('x')))));
    expect(fromUtf8(await aliceChannel.receive(await plain.send(sealEnvelope('reports.read', utf8('y')))))).toBe('y');
  });

  it('the sender is refused before encrypting, with the same typed error', async () => {
    const { a, b, alice, bob } = await bridgePair({ bob: { knockPolicy: () => ({ accept: true }) } });
    await alice.knock(b.did, intent);
    const channel = await alice.openSecureChannel(b.did, await bob.publishPrekeyBundle());
    await bob.acceptSecureChannel(a.did, alice.getSession(b.did)!.establishment!);
    const state = channel.snapshot();
    expect(await refusal(channel.send(utf8('x'), { intent: 'payments.transfer' }))).toMatchObject({ direction: 'send', action: 'payments.transfer', allowedActions: ['reports.read'] });
    expect(await refusal(channel.send(utf8('x')))).toMatchObject({ action: null });
    expect(channel.snapshot()).toEqual(state);
  });

  it('the post-receive policy sees the authenticated action, and the body without the envelope', async () => {
    const seen: ReceivePolicyContext[] = [];
    const { a, b, alice, bob } = await bridgePair({ bob: { knockPolicy: () => ({ accept: true }), postReceivePolicy: (c) => (seen.push(c), true) } });
    await alice.knock(b.did, intent);
    const channel = await alice.openSecureChannel(b.did, await bob.publishPrekeyBundle());
    const bobChannel = await bob.acceptSecureChannel(a.did, alice.getSession(b.did)!.establishment!);
    expect(fromUtf8(await bobChannel.receive(await channel.send(utf8('report'), { intent: 'reports.read' })))).toBe('report');
    expect(seen).toMatchObject([{ intent: 'reports.read' }]);
  });

  it('the granting side enforces max_messages and ttl_seconds on receive, before decrypting, against a sender that ignores them', async () => {
    const clock = fakeClock();
    const world = await bridgePair({ now: clock.now, bob: { knockPolicy: () => ({ accept: true, conditions: { maxMessages: 2, ttlSeconds: 60 } }) } });
    await world.alice.knock(world.b.did, intent);
    const bundle = await world.bob.publishPrekeyBundle();
    await world.alice.verifyPeer(world.b.did);
    const [plain, est] = await SecureChannel.createSender(world.a.keyManager, bundle, utf8(`${world.a.did}|${world.b.did}`));
    const bobChannel = await world.bob.acceptSecureChannel(world.a.did, est);
    const send = (text: string) => plain.send(sealEnvelope('reports.read', utf8(text)));
    const [m1, m2] = [await send('1'), await send('2')];
    await bobChannel.receive(m1);
    clock.advance(60_000);
    let before = bobChannel.snapshot();
    expect((await bobChannel.receive(m2).catch((e: ChannelConditionError) => e)) as ChannelConditionError).toMatchObject({ condition: 'ttl_seconds' });
    expect(bobChannel.snapshot()).toEqual(before);
    // A second grant, read within its time, stops at its message cap.
    const again = await bridgePair({ bob: { knockPolicy: () => ({ accept: true, conditions: { maxMessages: 1 } }) } });
    await again.alice.knock(again.b.did, intent);
    const bundle2 = await again.bob.publishPrekeyBundle();
    await again.alice.verifyPeer(again.b.did);
    const [plain2, est2] = await SecureChannel.createSender(again.a.keyManager, bundle2, utf8(`${again.a.did}|${again.b.did}`));
    const bob2 = await again.bob.acceptSecureChannel(again.a.did, est2);
    await bob2.receive(await plain2.send(sealEnvelope('reports.read', utf8('one'))));
    before = bob2.snapshot();
    expect((await bob2.receive(await plain2.send(sealEnvelope('reports.read', utf8('two')))).catch((e: ChannelConditionError) => e)) as ChannelConditionError).toMatchObject({
      condition: 'max_messages',
    });
    expect(bob2.snapshot()).toEqual(before);
  });

  it('concurrent deliveries and sends cannot carry the channel past max_messages', async () => {
    const { a, b, alice, bob } = await bridgePair({ bob: { knockPolicy: () => ({ accept: true, conditions: { maxMessages: 2 } }) } });
    await alice.knock(b.did, intent);
    const bundle = await bob.publishPrekeyBundle();
    await alice.verifyPeer(b.did);
    const [plain, est] = await SecureChannel.createSender(a.keyManager, bundle, utf8(`${a.did}|${b.did}`));
    const bobChannel = await bob.acceptSecureChannel(a.did, est);
    const messages: EncryptedMessage[] = [];
    for (let i = 0; i < 5; i++) messages.push(await plain.send(sealEnvelope('reports.read', utf8(`m${i}`))));
    const received = await Promise.allSettled(messages.map((m) => bobChannel.receive(m)));
    expect(received.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'rejected', 'rejected']);
    expect(bobChannel.messageCount).toBe(2);

    const other = await bridgePair({ bob: { knockPolicy: () => ({ accept: true, conditions: { maxMessages: 2 } }) } });
    await other.alice.knock(other.b.did, intent);
    const channel = await other.alice.openSecureChannel(other.b.did, await other.bob.publishPrekeyBundle());
    const sent = await Promise.allSettled([1, 2, 3, 4].map(() => channel.send(utf8('x'), { intent: 'reports.read' })));
    expect(sent.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'rejected']);
    expect(channel.messageCount).toBe(2);
  });
});

describe('action envelope negotiation', () => {
  it('both sides ours: the knock offers version 1, the acceptance selects it, both channels carry it', async () => {
    const { a, b, alice, bob } = await bridgePair({ bob: { knockPolicy: () => ({ accept: true }) } });
    const frames: any[] = [];
    intercept(bob, { in: (f) => (frames.push(f), f), out: (x) => (frames.push(x), x) });
    const outcome = await alice.knock(b.did, intent);
    const [knock, accept] = frames.filter((f) => f.type === 'knock' || f.type === 'knock_accept');
    expect(knock.action_envelope).toEqual([1]);
    expect(accept.action_envelope).toBe(1);
    expect(outcome).toMatchObject({ accepted: true, actionEnvelope: true });
    const channel = await alice.openSecureChannel(b.did, await bob.publishPrekeyBundle());
    const bobChannel = await bob.acceptSecureChannel(a.did, alice.getSession(b.did)!.establishment!);
    expect([channel.actionEnvelope, bobChannel.actionEnvelope]).toEqual([true, true]);
    expect(alice.getSession(b.did)!.knock?.actionEnvelope).toBe(true);
    expect(bob.getSession(a.did)!.knock?.actionEnvelope).toBe(true);
    const message = await channel.send(utf8('body'), { intent: 'reports.read' });
    // nonce, envelope head, action, body, tag.
    expect(message.ciphertext.length).toBe(12 + 3 + 'reports.read'.length + 4 + 16);
    expect(await bobChannel.receiveWithIntent(message)).toMatchObject({ intent: 'reports.read' });
  });

  it('a v1 knocker (no offer) is refused an action-restricted grant, by default and whatever the policy says', async () => {
    const { a, b, bob, provider } = await bridgePair({ bob: { knockPolicy: defaultKnockPolicy({ minTrustScore: 700 }) } });
    const exchange = new KnockExchange({ agentDid: a.did, identity: a.identity, trustProvider: provider, policy: () => ({ accept: false, reason: 'no' }) });
    const v1 = async () => withoutOffer(await exchange.createKnock(b.did, intent), a.identity);
    expect(await bob.handleFrame(await v1())).toMatchObject({ type: 'knock_reject', reason: 'action_envelope_required' });
    // A policy that grants restricted actions anyway: the exchange refuses what it could not enforce.
    const seen: boolean[] = [];
    const custom = await bridgePair({
      bob: { knockPolicy: (r) => (seen.push(r.actionEnvelope), { accept: true, conditions: { allowedActions: ['reports.read'] } }) },
    });
    const x2 = new KnockExchange({ agentDid: custom.a.did, identity: custom.a.identity, trustProvider: custom.provider, policy: () => ({ accept: false, reason: 'no' }) });
    expect(await custom.bob.handleFrame(await withoutOffer(await x2.createKnock(custom.b.did, intent), custom.a.identity))).toMatchObject({
      type: 'knock_reject',
      reason: 'action_envelope_required',
    });
    expect(seen).toEqual([false]);
  });

  it('a v1 knocker granted any action by choice gets a v1 acceptance and a channel of v1 bytes, still under the message and time limits', async () => {
    const { a, b, alice, bob, provider } = await bridgePair({ bob: { knockPolicy: defaultKnockPolicy({ minTrustScore: 700, withoutEnvelope: 'any_action', maxMessages: 2 }) } });
    const exchange = new KnockExchange({ agentDid: a.did, identity: a.identity, trustProvider: provider, policy: () => ({ accept: false, reason: 'no' }) });
    const knock = await withoutOffer(await exchange.createKnock(b.did, intent), a.identity);
    const accept = await bob.handleFrame(knock);
    expect(accept).toMatchObject({ type: 'knock_accept', conditions: { allowed_actions: [], max_messages: 2 } });
    expect('action_envelope' in accept).toBe(false);
    expect(await exchange.readAnswer(accept, knock, b.identity.publicKey)).toMatchObject({ accepted: true, actionEnvelope: false });
    // Alice's v1 channel: plain SecureChannel, plain bytes.
    const bundle = await bob.publishPrekeyBundle();
    await alice.verifyPeer(b.did);
    const [plain, est] = await SecureChannel.createSender(a.keyManager, bundle, utf8(`${a.did}|${b.did}`));
    const bobChannel = await bob.acceptSecureChannel(a.did, est);
    expect(bobChannel.actionEnvelope).toBe(false);
    expect(bobChannel.conditions).toMatchObject({ maxMessages: 2, allowedActions: [] });
    expect(await bobChannel.receiveWithIntent(await plain.send(utf8('v1 text')))).toMatchObject({ intent: null });
    const reply = await bobChannel.send(utf8('v1 reply'), { intent: 'anything' });
    expect(fromUtf8(await plain.receive(reply))).toBe('v1 reply');
    await expect(bobChannel.receive(await plain.send(utf8('third')))).rejects.toMatchObject({ condition: 'max_messages' });
  });

  it('a v1 granter (no selection) leaves the knocker on v1 bytes', async () => {
    const { a, b, alice, bob } = await bridgePair({ bob: { knockPolicy: () => ({ accept: true }) } });
    intercept(bob, { out: (x) => (x.type === 'knock_accept' ? withoutOffer(x, b.identity) : x) });
    expect(await alice.knock(b.did, intent)).toMatchObject({ accepted: true, actionEnvelope: false, conditions: { allowedActions: ['reports.read'] } });
    const channel = await alice.openSecureChannel(b.did, await bob.publishPrekeyBundle());
    expect(channel.actionEnvelope).toBe(false);
    // What a v1 responder makes of it: a plain channel reads exactly the plaintext.
    const est = alice.getSession(b.did)!.establishment!;
    const v1 = await SecureChannel.createReceiver(b.keyManager, est, utf8(`${a.did}|${b.did}`));
    expect(fromUtf8(await v1.receive(await channel.send(utf8('exact'), { intent: 'reports.read' })))).toBe('exact');
    // The knocker still holds its own sends to the grant.
    await refusal(channel.send(utf8('x'), { intent: 'payments.transfer' }));
  });

  it('the offer and the selection are signed: stripping or adding either on the way is refused', async () => {
    const stripped = await bridgePair({ bob: { knockPolicy: () => ({ accept: true }) } });
    intercept(stripped.bob, { in: (f) => (f.type === 'knock' ? (({ action_envelope: _e, ...rest }) => rest)(f) : f) });
    expect(((await stripped.alice.knock(stripped.b.did, intent).catch((e: unknown) => e)) as TrustError).peerReason).toBe('bad_signature');

    const dropped = await bridgePair({ bob: { knockPolicy: () => ({ accept: true }) } });
    intercept(dropped.bob, { out: (x) => (x.type === 'knock_accept' ? (({ action_envelope: _e, ...rest }) => rest)(x) : x) });
    expect(((await dropped.alice.knock(dropped.b.did, intent).catch((e: unknown) => e)) as TrustError).reason).toBe('bad_signature');

    // A selection the knock did not offer (signed by the granter itself) is malformed; so is another version.
    const { a, b, bob, provider } = await bridgePair({ bob: { knockPolicy: () => ({ accept: true, conditions: { allowedActions: [] } }) } });
    const exchange = new KnockExchange({ agentDid: a.did, identity: a.identity, trustProvider: provider, policy: () => ({ accept: false, reason: 'no' }) });
    const knock = await withoutOffer(await exchange.createKnock(b.did, intent), a.identity);
    const accept = await bob.handleFrame(knock);
    const forced = await signFrame({ ...withoutSignature(accept), action_envelope: 1 }, b.identity);
    expect(((await exchange.readAnswer(forced, knock, b.identity.publicKey).catch((e: unknown) => e)) as TrustError).reason).toBe('malformed');
    const offered = await exchange.createKnock(b.did, intent);
    const other = await signFrame({ ...withoutSignature(await bob.handleFrame(offered)), action_envelope: 2 }, b.identity);
    expect(((await exchange.readAnswer(other, offered, b.identity.publicKey).catch((e: unknown) => e)) as TrustError).reason).toBe('malformed');
  });

  it('a knock whose offer is not a short list of versions is answered as malformed; unknown versions alone mean no envelope', async () => {
    const { a, b, bob, provider } = await bridgePair({ bob: { knockPolicy: defaultKnockPolicy({ minTrustScore: 700 }) } });
    const exchange = new KnockExchange({ agentDid: a.did, identity: a.identity, trustProvider: provider, policy: () => ({ accept: false, reason: 'no' }) });
    for (const offer of ['1', 1, [0], [1.5], Array.from({ length: 17 }, () => 1)]) {
      const frame = await signFrame({ ...withoutSignature(await exchange.createKnock(b.did, intent)), action_envelope: offer }, a.identity);
      expect(await bob.handleFrame(frame)).toMatchObject({ type: 'error', code: 'malformed' });
    }
    const future = await signFrame({ ...withoutSignature(await exchange.createKnock(b.did, intent)), action_envelope: [2, 3] }, a.identity);
    expect(await bob.handleFrame(future)).toMatchObject({ type: 'knock_reject', reason: 'action_envelope_required' });
  });
});

describe('v1 bytes: a channel without the envelope sends exactly what AgentMesh v1 sends', () => {
  const conv = vectors.ratchet.conversations[0]!;

  /** The reference conversation's two channels, on the recorded randomness. */
  async function referencePair() {
    const aliceCrypto = replayProvider('noble', conv.rng.alice.seed);
    const bobCrypto = replayProvider('noble', conv.rng.bob.seed);
    const alice = await managerFromSeed(conv.x3dh.initiator_ed25519_seed, aliceCrypto);
    const bob = await managerFromSeed(conv.x3dh.responder_ed25519_seed, bobCrypto);
    await bob.generateSignedPreKey();
    const otk = conv.x3dh.one_time_pre_key;
    if (otk) await bob.generateOneTimePreKeys(otk.key_id + 1);
    const ad = hex(conv.app_associated_data);
    const [aliceCh, est] = await SecureChannel.createSender(alice, bob.getPublicBundle(otk?.key_id), ad);
    const bobCh = await SecureChannel.createReceiver(bob, { ...est, signedPreKeyId: undefined }, ad);
    return { aliceCrypto, bobCrypto, aliceCh, bobCh };
  }
  it(`${conv.name} through TrustedChannel under a KNOCK granted without the envelope: every wire byte as the reference`, async () => {
    const { aliceCrypto, bobCrypto, aliceCh, bobCh } = await referencePair();
    const clock = fakeClock();
    const conditions: ChannelConditions = { maxMessages: 1000, ttlSeconds: 3600, allowedActions: ['reports.read'] };
    const wrap = (channel: SecureChannel, crypto: typeof aliceCrypto) =>
      new TrustedChannel({
        channel,
        localDid: 'did:mesh:alice',
        peerDid: 'did:mesh:bob',
        sessionId: 's',
        createdAt: clock.now(),
        guard: new ConditionGuard(conditions, clock.now(), clock.now),
        actionEnvelope: false,
        hooks: {},
        crypto,
        now: clock.now,
      });
    const channels = { alice: wrap(aliceCh, aliceCrypto), bob: wrap(bobCh, bobCrypto) };
    const wires = new Map<string, Uint8Array>();
    const messages = new Map(conv.messages.map((m) => [m.id, m]));
    for (const ev of conv.events) {
      const ch = channels[ev.party as 'alice' | 'bob'];
      const m = messages.get(ev.message)!;
      if (ev.action === 'send') {
        // A fixed message id: the default draws a UUID from the same random stream.
        const sent = await ch.send(hex(m.plaintext), { intent: 'reports.read', messageId: m.id });
        expect(toHex(sent.serialize())).toBe(m.wire);
        wires.set(m.id, sent.serialize());
      } else {
        expect(toHex(await ch.receive(wires.get(m.id)!))).toBe(ev.plaintext);
      }
    }
    expect(aliceCrypto.draws()).toBe(conv.rng.alice.draws.length);
    expect(bobCrypto.draws()).toBe(conv.rng.bob.draws.length);
  });

  it('a plaintext check that refuses leaves the ratchet byte-identical and draws no randomness (the reference conversation goes on)', async () => {
    const { aliceCrypto, bobCrypto, aliceCh, bobCh } = await referencePair();
    const first = conv.messages[0]!;
    const sent = await aliceCh.send(hex(first.plaintext));
    expect(toHex(sent.serialize())).toBe(first.wire);
    // Bob's first receive takes a DH ratchet step and draws a key pair: a refusal must do neither.
    const [state, draws] = [JSON.stringify(bobCh.state.toDict()), bobCrypto.draws()];
    const seen: string[] = [];
    const refuse = (p: Uint8Array) => {
      seen.push(toHex(p));
      throw new InvalidMessageError('refused');
    };
    await expect(bobCh.receive(sent, refuse)).rejects.toThrow('refused');
    expect(seen).toEqual([first.plaintext]);
    expect([JSON.stringify(bobCh.state.toDict()), bobCrypto.draws(), bobCh.messageCount]).toEqual([state, draws, 0]);
    const step = conv.events.find((e) => e.action === 'receive' && e.message === first.id)!;
    expect(toHex(await bobCh.receive(sent, () => undefined))).toBe(step.plaintext);
    expect(bobCh.state.toDict()).toEqual(step.state_after);
  });

  it('the envelope reads back what it sealed, and refuses what it could not have sealed', () => {
    for (const [action, body] of [
      ['reports.read', 'x'],
      [null, ''],
      ['报告.读取', 'body'],
    ] as const) {
      const sealed = sealEnvelope(action, utf8(body));
      const { action: read, bodyOffset } = openEnvelope(sealed);
      expect([read, fromUtf8(sealed.subarray(bodyOffset))]).toEqual([action, body]);
    }
    expect(toHex(sealEnvelope('ab', utf8('c')))).toBe('010002616263');
    expect(() => sealEnvelope('é'.repeat(600), new Uint8Array(0))).toThrow(InvalidMessageError);
    for (const bad of [[], [1, 0], [2, 0, 0], [1, 0, 2, 0x61], [1, 0x04, 0x01, ...new Array(1025).fill(0x61)], [1, 0, 1, 0xc3], [1, 0, 4, 0xef, 0xbb, 0xbf, 0x61]]) {
      expect(() => openEnvelope(new Uint8Array(bad)), JSON.stringify(bad.slice(0, 4))).toThrow(InvalidMessageError);
    }
  });

  it('the envelope goes only with a grant', () => {
    expect(
      () =>
        new TrustedChannel({
          channel: {} as SecureChannel,
          localDid: 'a',
          peerDid: 'b',
          sessionId: 's',
          createdAt: 0,
          guard: null,
          actionEnvelope: true,
          hooks: {},
          crypto: {} as never,
          now: () => 0,
        }),
    ).toThrow(TypeError);
  });
});
