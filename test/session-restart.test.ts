import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { SessionManager } from '../src/session/index.js';
import { IndexedDBAgentStore } from '../src/storage/index.js';
import { connect, newAgent, text, uniqueName, utf8 } from './session-fixtures.js';

/** Reopens an agent the way a reloaded tab does: a new store object on the same database, identity from storage. */
async function restart(manager: SessionManager): Promise<SessionManager> {
  const name = (manager.store as IndexedDBAgentStore).name;
  manager.close();
  await manager.store.close();
  return SessionManager.open({ store: await IndexedDBAgentStore.open({ name }) });
}

describe('restart: a new store object on the same IndexedDB database', () => {
  it('continues every session both ways, including skipped keys and sessions not yet answered', async () => {
    const open = (who: string) => IndexedDBAgentStore.open({ name: uniqueName(who) });
    let alice = await newAgent(await open('alice'));
    let bob = await newAgent(await open('bob'));
    let carol = await newAgent(await open('carol'));
    let dave = await newAgent(await open('dave'));
    await connect(alice, bob); // alice initiated
    await connect(carol, alice); // alice responded
    // Alice → Dave: established on Alice's side only; Dave has not seen anything yet.
    await alice.initiate(dave.did, await dave.preKeys.getPublicBundle((await dave.preKeys.oneTimePreKeyIds())[0]));
    const toDave = await alice.send(dave.did, utf8('before the restart'));
    // Out of order: Bob holds a skipped key for `early` across the restart.
    const early = await alice.send(bob.did, utf8('early'));
    const late = await alice.send(bob.did, utf8('late'));
    expect(text(await bob.receive(alice.did, late))).toBe('late');
    const pendingForAlice = await carol.send(alice.did, utf8('queued for alice'));

    const dids = [alice.did, bob.did, carol.did, dave.did];
    [alice, bob, carol, dave] = (await Promise.all([alice, bob, carol, dave].map(restart))) as [SessionManager, SessionManager, SessionManager, SessionManager];
    expect([alice.did, bob.did, carol.did, dave.did]).toEqual(dids);
    expect(await alice.listSessions()).toEqual([bob.did, carol.did, dave.did].sort());

    expect(text(await bob.receive(alice.did, early))).toBe('early');
    expect(text(await alice.receive(carol.did, pendingForAlice))).toBe('queued for alice');
    for (const [x, y] of [
      [alice, bob],
      [bob, alice],
      [alice, carol],
      [carol, alice],
    ] as const) {
      for (let i = 0; i < 3; i++) {
        const m = await x.send(y.did, utf8(`${i} after restart`));
        expect(text(await y.receive(x.did, m))).toBe(`${i} after restart`);
      }
    }
    // Dave accepts with the establishment Alice kept in storage.
    const establishment = (await alice.getSession(dave.did))!.establishment!;
    expect(text(await dave.accept(alice.did, establishment, { firstMessage: toDave }))).toBe('before the restart');
    dave = await restart(dave);
    expect(text(await alice.receive(dave.did, await dave.send(alice.did, utf8('hi alice'))))).toBe('hi alice');
    expect((await alice.getSession(dave.did))!.establishment).toBeNull();
    alice = await restart(alice);
    expect(text(await dave.receive(alice.did, await alice.send(dave.did, utf8('hi dave'))))).toBe('hi dave');
  });

  it('keeps pre-keys: a bundle fetched before the restart is accepted after it', async () => {
    const alice = await newAgent(await IndexedDBAgentStore.open({ name: uniqueName('alice') }));
    let bob = await newAgent(await IndexedDBAgentStore.open({ name: uniqueName('bob') }), { oneTime: 5 });
    const ids = await bob.preKeys.oneTimePreKeyIds();
    const bundle = await bob.preKeys.getPublicBundle(ids[2]);
    bob = await restart(bob);
    expect(await bob.preKeys.oneTimePreKeyIds()).toEqual(ids);
    const establishment = await alice.initiate(bob.did, bundle);
    const m = await alice.send(bob.did, utf8('hello'));
    expect(text(await bob.accept(alice.did, establishment, { firstMessage: m }))).toBe('hello');
    expect(await bob.preKeys.oneTimePreKeyIds()).toEqual(ids.filter((id) => id !== ids[2]));
    // New ids continue after the old ones, never reusing a consumed id.
    const more = await bob.preKeys.generateOneTimePreKeys(2);
    expect(Math.min(...more)).toBeGreaterThan(Math.max(...ids));
  });

  it('keeps a responder session accepted without its first message, with its candidate channels', async () => {
    let now = 10_000;
    const clock = () => now;
    const alice = await newAgent(await IndexedDBAgentStore.open({ name: uniqueName('alice') }), { now: clock });
    const bobName = uniqueName('bob');
    let bob = await newAgent(await IndexedDBAgentStore.open({ name: bobName }), { now: clock, oneTime: 0 });
    const oldBundle = await bob.preKeys.getPublicBundle();
    now += 1;
    await bob.preKeys.rotateSignedPreKey();
    const establishment = { ...(await alice.initiate(bob.did, oldBundle)), signedPreKeyId: null };
    await bob.accept(alice.did, establishment);
    bob.close();
    await bob.store.close();
    bob = await SessionManager.open({ store: await IndexedDBAgentStore.open({ name: bobName }), now: clock });
    expect(text(await bob.receive(alice.did, await alice.send(bob.did, utf8('which key?'))))).toBe('which key?');
    expect(text(await alice.receive(bob.did, await bob.send(alice.did, utf8('the old one'))))).toBe('the old one');
  });
});
