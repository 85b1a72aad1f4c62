import { describe, expect, it, vi } from 'vitest';
import { SecureChannel } from '../src/channel/secure-channel.js';
import { sha256 } from '../src/crypto/index.js';
import { fromUtf8, toHex, utf8 } from '../src/encoding.js';
import { InvalidMessageError } from '../src/errors.js';
import { PolicyDeniedError, type AuditEvent, type EncryptedTrustBridgeOptions } from '../src/bridge/index.js';
import { bridgePair, fakeClock } from './helpers/trust-agents.js';

async function connected(alice: Partial<EncryptedTrustBridgeOptions> = {}, bob: Partial<EncryptedTrustBridgeOptions> = {}) {
  const clock = fakeClock();
  const world = await bridgePair({ now: clock.now, alice, bob });
  const channel = await world.alice.openSecureChannel(world.b.did, await world.bob.publishPrekeyBundle());
  const bobChannel = await world.bob.acceptSecureChannel(world.a.did, world.alice.getSession(world.b.did)!.establishment!);
  return { ...world, clock, channel, bobChannel };
}

describe('governance: pre-send policy', () => {
  it('sees the documented shape and can refuse before anything is encrypted', async () => {
    const seen: unknown[] = [];
    let allow = true;
    const { a, b, clock, channel, bobChannel } = await connected({
      preSendPolicy: (ctx) => {
        seen.push(ctx);
        return allow ? { allow: true } : { allow: false, reason: 'outside business hours' };
      },
    });
    clock.advance(2500);
    const first = await channel.send(utf8('one'), { intent: 'reports.read' });
    allow = false;
    const error = await channel.send(utf8('two')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PolicyDeniedError);
    expect((error as PolicyDeniedError).reason).toBe('outside business hours');
    expect((error as PolicyDeniedError).direction).toBe('send');
    expect(channel.messageCount).toBe(1);
    allow = true;
    const third = await channel.send(utf8('three'));
    // No key was spent on the refused message: the peer sees no gap.
    expect(fromUtf8(await bobChannel.receive(first))).toBe('one');
    expect(third.header.messageNumber).toBe(1);
    expect(seen[0]).toEqual({ action: 'agentmesh.send', sender: a.did, recipient: b.did, intent: 'reports.read', message_number: 0, session_age_seconds: 2.5 });
    expect(seen[1]).toMatchObject({ intent: null, message_number: 1 });
  });

  it('only an explicit allow allows; a hook that fails refuses', async () => {
    for (const result of [false, { allow: false }, undefined, 'yes', 1, { allow: 'true' }]) {
      const { channel } = await connected({ preSendPolicy: () => result as never });
      await expect(channel.send(utf8('x'))).rejects.toBeInstanceOf(PolicyDeniedError);
    }
    const { channel } = await connected({ preSendPolicy: () => true });
    await channel.send(utf8('x'));
    const failing = await connected({
      preSendPolicy: async () => {
        throw new Error('policy engine down');
      },
    });
    const error = (await failing.channel.send(utf8('x')).catch((e: unknown) => e)) as PolicyDeniedError;
    expect(error).toBeInstanceOf(PolicyDeniedError);
    expect((error.cause as Error).message).toBe('policy engine down');
  });
});

describe('governance: post-receive policy', () => {
  it('sees the content hash and can keep the plaintext from being handed out', async () => {
    const seen: unknown[] = [];
    const { a, b, channel, bobChannel } = await connected(
      {},
      {
        postReceivePolicy: (ctx) => {
          seen.push(ctx);
          return ctx.content_hash !== toHex(sha256(utf8('forbidden')));
        },
      },
    );
    expect(fromUtf8(await bobChannel.receive(await channel.send(utf8('fine'))))).toBe('fine');
    const error = await bobChannel.receive(await channel.send(utf8('forbidden'))).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PolicyDeniedError);
    expect((error as PolicyDeniedError).direction).toBe('receive');
    expect(seen[0]).toEqual({ action: 'agentmesh.receive', sender: a.did, recipient: b.did, intent: null, content_hash: toHex(sha256(utf8('fine'))) });
    // The refused plaintext was zeroed, not just withheld.
    const receive = vi.spyOn(SecureChannel.prototype, 'receive');
    await bobChannel.receive(await channel.send(utf8('forbidden'))).catch(() => undefined);
    const withheld = await receive.mock.results[0]!.value;
    expect(withheld).toEqual(new Uint8Array(9));
    receive.mockRestore();
    // The session goes on.
    expect(fromUtf8(await bobChannel.receive(await channel.send(utf8('after'))))).toBe('after');
  });
});

describe('governance: audit', () => {
  it('records one event per send and receive attempt, with the same session id on both sides', async () => {
    const aliceEvents: AuditEvent[] = [];
    const bobEvents: AuditEvent[] = [];
    const { a, b, channel, bobChannel, clock } = await connected(
      { audit: (e) => void aliceEvents.push(e) },
      { audit: async (e) => void bobEvents.push(e), postReceivePolicy: () => ({ allow: false, reason: 'quarantine' }) },
    );
    clock.advance(1000);
    const message = await channel.send(utf8('hello'), { messageId: 'frame-1' });
    await bobChannel.receive(message, { messageId: 'frame-1' }).catch(() => undefined);
    await bobChannel.receive(message).catch(() => undefined); // already consumed: an error
    await bobChannel.receive(utf8('garbage')).catch(() => undefined);
    const sessionId = channel.sessionId;
    expect(sessionId).toMatch(/^[0-9a-f]{32}$/);
    expect(bobChannel.sessionId).toBe(sessionId);
    expect(aliceEvents).toEqual([
      {
        event: 'agentmesh.message',
        direction: 'send',
        sender: a.did,
        recipient: b.did,
        message_id: 'frame-1',
        session_id: sessionId,
        policy_decision: 'allow',
        timestamp: new Date(clock.now()).toISOString(),
      },
    ]);
    expect(bobEvents.map((e) => [e.direction, e.sender, e.recipient, e.policy_decision, e.reason])).toEqual([
      ['receive', a.did, b.did, 'deny', 'quarantine'],
      ['receive', a.did, b.did, 'error', 'replayed_message'],
      ['receive', a.did, b.did, 'error', 'invalid_message'],
    ]);
    expect(bobEvents[0]!.message_id).toBe('frame-1');
    expect(bobEvents[1]!.message_id).toMatch(/^[0-9a-f]{32}$/);
  });

  it('a failing audit sink stops a send before any key is used', async () => {
    let fail = true;
    const { channel, bobChannel } = await connected({
      audit: () => {
        if (fail) throw new Error('audit log unavailable');
      },
    });
    await expect(channel.send(utf8('unrecorded'))).rejects.toThrow('audit log unavailable');
    expect(channel.messageCount).toBe(0);
    fail = false;
    const message = await channel.send(utf8('recorded'));
    expect(message.header.messageNumber).toBe(0);
    expect(fromUtf8(await bobChannel.receive(message))).toBe('recorded');
  });

  it('bad input to send and receive gets typed errors', async () => {
    const { channel, bobChannel } = await connected();
    await expect(channel.send('text' as never)).rejects.toBeInstanceOf(InvalidMessageError);
    await expect(channel.send(utf8('x'), { intent: 'i'.repeat(200) })).rejects.toBeInstanceOf(InvalidMessageError);
    await expect(bobChannel.receive(new Uint8Array(3))).rejects.toBeInstanceOf(InvalidMessageError);
    await expect(bobChannel.receive({} as never)).rejects.toBeInstanceOf(InvalidMessageError);
  });
});
