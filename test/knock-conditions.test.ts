import { describe, expect, it } from 'vitest';
import { SecureChannel } from '../src/channel/secure-channel.js';
import { fromUtf8, utf8 } from '../src/encoding.js';
import { sealEnvelope } from '../src/wire/action-envelope.js';
import type { AuditEvent } from '../src/bridge/index.js';
import { ChannelConditionError, ConditionGuard, TrustConfigError, TrustError, type KnockIntent } from '../src/trust/index.js';
import { bridgePair, fakeClock } from './helpers/trust-agents.js';

const intent: KnockIntent = { action: 'reports.read', description: 'read the weekly report', capabilitiesRequired: [], trustMinimum: 0 };

async function underKnock(conditions: { maxMessages?: number; ttlSeconds?: number; allowedActions?: string[] }, extra: Parameters<typeof bridgePair>[0] = {}) {
  const clock = fakeClock();
  const world = await bridgePair({
    now: clock.now,
    ...extra,
    bob: { knockPolicy: () => ({ accept: true, conditions }), ...extra.bob },
  });
  const outcome = await world.alice.knock(world.b.did, intent);
  expect(outcome.accepted).toBe(true);
  return { ...world, clock };
}

async function conditionOf(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ChannelConditionError);
  return (error as ChannelConditionError).condition;
}

describe('KNOCK conditions on the channel', () => {
  it('max_messages: past the cap, send throws a typed error on the knocker’s side', async () => {
    const { a, b, alice, bob } = await underKnock({ maxMessages: 3 });
    const channel = await alice.openSecureChannel(b.did, await bob.publishPrekeyBundle());
    const bobChannel = await bob.acceptSecureChannel(a.did, alice.getSession(b.did)!.establishment!);
    expect(channel.conditions).toEqual({ maxMessages: 3, ttlSeconds: 3600, allowedActions: ['reports.read'] });
    expect(bobChannel.conditions).toEqual(channel.conditions);
    await bobChannel.receive(await channel.send(utf8('1'), { intent: 'reports.read' }));
    await bobChannel.receive(await channel.send(utf8('2'), { intent: 'reports.read' }));
    await channel.receive(await bobChannel.send(utf8('3'), { intent: 'reports.read' }));
    expect(channel.messageCount).toBe(3);
    expect(await conditionOf(channel.send(utf8('4'), { intent: 'reports.read' }))).toBe('max_messages');
    expect(await conditionOf(bobChannel.send(utf8('4'), { intent: 'reports.read' }))).toBe('max_messages');
  });

  it('max_messages: the recipient enforces on receive, whatever the sender does', async () => {
    const { a, b, alice, bob } = await underKnock({ maxMessages: 2 });
    const bundle = await bob.publishPrekeyBundle();
    await alice.verifyPeer(b.did);
    // A sender ignoring the conditions: a plain channel with the same associated data, enveloping by hand.
    const [plain, establishment] = await SecureChannel.createSender(a.keyManager, bundle, utf8(`${a.did}|${b.did}`));
    const send = (text: string) => plain.send(sealEnvelope('reports.read', utf8(text)));
    const bobChannel = await bob.acceptSecureChannel(a.did, establishment);
    expect(fromUtf8(await bobChannel.receive(await send('one')))).toBe('one');
    expect(fromUtf8(await bobChannel.receive(await send('two')))).toBe('two');
    expect(await conditionOf(bobChannel.receive(await send('three')))).toBe('max_messages');
  });

  it('ttl_seconds: counted from the KNOCK’s acceptance, with an injectable clock, on both sides', async () => {
    const { a, b, alice, bob, clock } = await underKnock({ ttlSeconds: 60 });
    clock.advance(30_000);
    const channel = await alice.openSecureChannel(b.did, await bob.publishPrekeyBundle());
    const bobChannel = await bob.acceptSecureChannel(a.did, alice.getSession(b.did)!.establishment!);
    const early = await channel.send(utf8('early'), { intent: 'reports.read' });
    const late = await channel.send(utf8('late'), { intent: 'reports.read' });
    expect(fromUtf8(await bobChannel.receive(early))).toBe('early');
    clock.advance(29_999);
    await channel.send(utf8('still in time'), { intent: 'reports.read' });
    clock.advance(1);
    expect(await conditionOf(channel.send(utf8('too late'), { intent: 'reports.read' }))).toBe('ttl_seconds');
    expect(await conditionOf(bobChannel.receive(late))).toBe('ttl_seconds');
  });

  it('allowed_actions: a send must name an allowed intent', async () => {
    const { a, b, alice, bob } = await underKnock({ allowedActions: ['reports.read', 'reports.list'] });
    const channel = await alice.openSecureChannel(b.did, await bob.publishPrekeyBundle());
    await bob.acceptSecureChannel(a.did, alice.getSession(b.did)!.establishment!);
    await channel.send(utf8('ok'), { intent: 'reports.list' });
    expect(await conditionOf(channel.send(utf8('no'), { intent: 'payments.transfer' }))).toBe('allowed_actions');
    expect(await conditionOf(channel.send(utf8('no')))).toBe('allowed_actions');
  });

  it('a channel opened without a KNOCK has no conditions; a grant is used by one channel only', async () => {
    const { b, alice, bob } = await underKnock({ maxMessages: 1 });
    const limited = await alice.openSecureChannel(b.did, await bob.publishPrekeyBundle());
    expect(limited.conditions?.maxMessages).toBe(1);
    expect(alice.getSession(b.did)!.knock?.conditions.maxMessages).toBe(1);
    const free = await alice.openSecureChannel(b.did, await bob.publishPrekeyBundle());
    expect(free.conditions).toBeNull();
    await free.send(utf8('a'));
    await free.send(utf8('b'));
  });

  it('requireKnock: channels are accepted only under a KNOCK this agent accepted', async () => {
    const world = await bridgePair({ bob: { requireKnock: true } });
    await world.alice.openSecureChannel(world.b.did, await world.bob.publishPrekeyBundle());
    const establishment = world.alice.getSession(world.b.did)!.establishment!;
    const error = await world.bob.acceptSecureChannel(world.a.did, establishment).catch((e: unknown) => e);
    expect((error as TrustError).reason).toBe('knock_required');
    expect((await world.alice.knock(world.b.did, { ...intent, capabilitiesRequired: [] })).accepted).toBe(true);
    await world.alice.openSecureChannel(world.b.did, await world.bob.publishPrekeyBundle());
    const channel = await world.bob.acceptSecureChannel(world.a.did, world.alice.getSession(world.b.did)!.establishment!);
    expect(channel.conditions?.allowedActions).toEqual(['reports.read']);
  });

  it('condition refusals are audited as deny with the condition as reason', async () => {
    const events: AuditEvent[] = [];
    const { b, alice, bob } = await underKnock({ maxMessages: 1 }, { alice: { audit: (e) => void events.push(e) } });
    const channel = await alice.openSecureChannel(b.did, await bob.publishPrekeyBundle());
    await channel.send(utf8('one'), { intent: 'reports.read' });
    await conditionOf(channel.send(utf8('two'), { intent: 'reports.read' }));
    expect(events.map((e) => [e.policy_decision, e.reason])).toEqual([
      ['allow', undefined],
      ['deny', 'max_messages'],
    ]);
  });
});

describe('ConditionGuard', () => {
  it('checks its conditions and refuses impossible ones', () => {
    const clock = fakeClock();
    const guard = new ConditionGuard({ maxMessages: 2, ttlSeconds: 10, allowedActions: [] }, clock.now(), clock.now);
    guard.check(1, 'send');
    expect(() => guard.check(2, 'receive')).toThrow(ChannelConditionError);
    clock.advance(10_000);
    expect(() => guard.check(0, 'send')).toThrow(/10 s/);
    expect(guard.expiresAt).toBe(clock.now());
    for (const bad of [
      { maxMessages: 0, ttlSeconds: 1, allowedActions: [] },
      { maxMessages: 1, ttlSeconds: 1.5, allowedActions: [] },
      { maxMessages: 1, ttlSeconds: 1, allowedActions: [''] },
      { maxMessages: 1, ttlSeconds: 1, allowedActions: 'all' as never },
    ]) {
      expect(() => new ConditionGuard(bad, 0)).toThrow(TrustConfigError);
    }
  });
});
