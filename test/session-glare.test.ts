// Two agents that open a session to each other at the same moment ("glare"): each holds its own
// initiator session when the other's establishment arrives. The lower DID keeps its session, the
// other switches to it, and every message sent on either side's first session is read exactly once.
import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { AuthenticationError, ReplayedMessageError } from '../src/errors.js';
import { SessionManager } from '../src/session/index.js';
import { CorruptRecordError, IndexedDBAgentStore, MemoryAgentStore, type AgentStore } from '../src/storage/index.js';
import { deliverFrame as deliver, newAgent, openBoth, pairByDid, sendFrame as send, text, uniqueName, utf8 } from './session-fixtures.js';

const stores: [string, () => Promise<AgentStore>][] = [
  ['memory', async () => new MemoryAgentStore()],
  ['indexeddb', () => IndexedDBAgentStore.open({ name: uniqueName('glare') })],
];

describe.each(stores)('simultaneous open over %s', (_name, makeStore) => {
  it.each([
    ['the lower DID hears first', true],
    ['the higher DID hears first', false],
  ])('%s: both sessions converge and every early message is read once', async (_label, lowFirst) => {
    const [low, high] = await pairByDid(makeStore);
    await openBoth(low, high);
    const fromLow = [await send(low, high, 'low 0'), await send(low, high, 'low 1')];
    const fromHigh = [await send(high, low, 'high 0'), await send(high, low, 'high 1')];
    expect(fromLow.every((s) => s.establishment) && fromHigh.every((s) => s.establishment)).toBe(true);

    const atLow: string[] = [];
    const atHigh: string[] = [];
    if (lowFirst) {
      for (const s of fromHigh) atLow.push(await deliver(low, high, s));
      for (const s of fromLow) atHigh.push(await deliver(high, low, s));
    } else {
      for (const s of fromLow) atHigh.push(await deliver(high, low, s));
      for (const s of fromHigh) atLow.push(await deliver(low, high, s));
    }
    expect(atLow).toEqual(['high 0', 'high 1']);
    expect(atHigh).toEqual(['low 0', 'low 1']);
    expect((await low.getSession(high.did))?.role).toBe('initiator');
    expect((await high.getSession(low.did))?.role).toBe('responder');

    // Both now talk on the lower DID's session, in both directions, over several DH steps.
    for (let round = 0; round < 3; round++) {
      const up = await send(high, low, `high says ${round}`);
      expect(up.establishment).toBeNull();
      expect(await deliver(low, high, up)).toBe(`high says ${round}`);
      const down = await send(low, high, `low says ${round}`);
      expect(down.establishment).toBeNull();
      expect(await deliver(high, low, down)).toBe(`low says ${round}`);
    }

    // The higher DID's abandoned session is gone from the lower's record once the switch is proven,
    // and a stale copy of its messages neither decrypts nor replaces the live session.
    const record = await low.store.getSession(high.did);
    expect((record?.channel as { inbound?: unknown }).inbound).toBeUndefined();
    const before = JSON.stringify(record);
    await expect(deliver(low, high, fromHigh[1]!)).rejects.toBeInstanceOf(AuthenticationError);
    expect(JSON.stringify(await low.store.getSession(high.did))).toBe(before);
  });

  it('the kept inbound channel survives a restart and refuses replays', async () => {
    const [low, high] = await pairByDid(makeStore);
    await openBoth(low, high);
    const early = [await send(high, low, 'early 0'), await send(high, low, 'early 1'), await send(high, low, 'early 2')];
    expect(await deliver(low, high, early[0]!)).toBe('early 0');
    await expect(deliver(low, high, early[0]!)).rejects.toBeInstanceOf(ReplayedMessageError);
    // Sending on our own session keeps the inbound channel.
    const meanwhile = await send(low, high, 'meanwhile');
    const lowStore = low.store;
    low.close();
    const again = await SessionManager.open({ store: lowStore });
    expect(await deliver(again, high, early[2]!)).toBe('early 2');
    expect(await deliver(again, high, early[1]!)).toBe('early 1');
    // The lower DID still offers its establishment, so the higher DID switches on its next message from it.
    expect(await deliver(high, again, meanwhile)).toBe('meanwhile');
    const down = await send(again, high, 'ours wins');
    expect(down.establishment).not.toBeNull();
    expect(await deliver(high, again, down)).toBe('ours wins');
    const up = await send(high, again, 'switched');
    expect(await deliver(again, high, up)).toBe('switched');
    expect((await again.getSession(high.did))?.establishment).toBeNull();
  });
});

describe('simultaneous open, refusals', () => {
  it('an establishment under another identity key does not take the inbound slot', async () => {
    const [low, high] = await pairByDid(async () => new MemoryAgentStore());
    const stranger = await newAgent(new MemoryAgentStore());
    await openBoth(low, high);
    const [otk] = await low.preKeys.oneTimePreKeyIds();
    const est = await stranger.initiate(low.did, await low.preKeys.getPublicBundle(otk ?? null));
    const forged = await stranger.send(low.did, utf8('not from high'));
    const before = JSON.stringify(await low.store.getSession(high.did));
    await expect(low.accept(high.did, est, { firstMessage: forged })).rejects.toThrow(/identity key/);
    expect(JSON.stringify(await low.store.getSession(high.did))).toBe(before);
  });

  it('a corrupt stored inbound channel gives CorruptRecordError and changes nothing', async () => {
    const [low, high] = await pairByDid(async () => new MemoryAgentStore());
    await openBoth(low, high);
    const early = [await send(high, low, 'early 0'), await send(high, low, 'early 1')];
    expect(await deliver(low, high, early[0]!)).toBe('early 0');
    for (const damage of [
      (inbound: Record<string, unknown>) => ((inbound.state as Record<string, unknown>).root_key = 'not hex'),
      (inbound: Record<string, unknown>) => (inbound.message_count = -1),
      (inbound: Record<string, unknown>) => delete inbound.state,
    ]) {
      const record = (await low.store.getSession(high.did))!;
      const broken = structuredClone(record);
      damage((broken.channel as { inbound: Record<string, unknown> }).inbound);
      await low.store.write([{ op: 'putSession', record: { ...broken, revision: record.revision + 1 }, expectedRevision: record.revision }]);
      const stored = JSON.stringify(await low.store.getSession(high.did));
      await expect(deliver(low, high, early[1]!)).rejects.toBeInstanceOf(CorruptRecordError);
      expect(JSON.stringify(await low.store.getSession(high.did))).toBe(stored);
    }
  });

  it('a session whose peer has already answered is replaced by a new establishment (the peer started over)', async () => {
    const [low, high] = await pairByDid(async () => new MemoryAgentStore());
    const [otk] = await high.preKeys.oneTimePreKeyIds();
    const est = await low.initiate(high.did, await high.preKeys.getPublicBundle(otk));
    expect(text(await high.accept(low.did, est, { firstMessage: await low.send(high.did, utf8('hi')) }))).toBe('hi');
    expect(text(await low.receive(high.did, await high.send(low.did, utf8('hi back'))))).toBe('hi back');
    // The higher DID lost its session and opens a new one: the lower DID takes it, as before.
    await high.deleteSession(low.did);
    const [lowOtk] = await low.preKeys.oneTimePreKeyIds();
    const fresh = await high.initiate(low.did, await low.preKeys.getPublicBundle(lowOtk));
    expect(text(await low.accept(high.did, fresh, { firstMessage: await high.send(low.did, utf8('new start')) }))).toBe('new start');
    expect((await low.getSession(high.did))?.role).toBe('responder');
  });
});
