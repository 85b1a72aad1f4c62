import { abortAllDurableObjects, env, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { encodeEstablishment } from '../../src/channel/establishment.js';
import { fromUtf8, utf8 } from '../../src/encoding.js';
import { PreKeyNotFoundError } from '../../src/errors.js';
import { AgentIdentity } from '../../src/identity/agent-identity.js';
import { SessionManager } from '../../src/session/index.js';
import { DurableObjectAgentStore, MemoryAgentStore, StoreConflictError } from '../../src/storage/index.js';

const host = (name: string) => env.AGENT_HOST.get(env.AGENT_HOST.idFromName(name));

async function peer(): Promise<SessionManager> {
  const identity = await AgentIdentity.generate();
  return SessionManager.open({ store: new MemoryAgentStore(), identity });
}

describe('a Durable Object holding a session', () => {
  it('keeps it across a restart of the object, both ways', async () => {
    let alice = host('alice');
    const aliceDid = await alice.did();
    const firstInstance = await alice.instanceId();
    const bob = await peer();

    const establishment = await bob.initiate(aliceDid, await alice.bundle());
    const hello = await bob.send(aliceDid, utf8('hello alice'));
    expect(await alice.accept(bob.did, encodeEstablishment(establishment), hello.serialize())).toBe('hello alice');
    expect(fromUtf8(await bob.receive(aliceDid, await alice.send(bob.did, 'hello bob')))).toBe('hello bob');
    const early = await bob.send(aliceDid, utf8('sent before the restart'));
    const late = await bob.send(aliceDid, utf8('delivered before the restart'));
    expect(await alice.receive(bob.did, late.serialize())).toBe('delivered before the restart');
    const unread = await alice.send(bob.did, 'written before the restart');

    await abortAllDurableObjects();
    alice = host('alice');
    expect(await alice.instanceId()).not.toBe(firstInstance);
    expect(await alice.did()).toBe(aliceDid);
    expect(await alice.sessions()).toEqual([bob.did]);

    expect(await alice.receive(bob.did, early.serialize())).toBe('sent before the restart');
    expect(fromUtf8(await bob.receive(aliceDid, unread))).toBe('written before the restart');
    for (let i = 0; i < 3; i++) {
      expect(await alice.receive(bob.did, (await bob.send(aliceDid, utf8(`to alice ${i}`))).serialize())).toBe(`to alice ${i}`);
      expect(fromUtf8(await bob.receive(aliceDid, await alice.send(bob.did, `to bob ${i}`)))).toBe(`to bob ${i}`);
    }
  });

  it('two objects keep their session with each other across restarts of both', async () => {
    let carol = host('carol');
    let dave = host('dave');
    const [carolDid, daveDid] = [await carol.did(), await dave.did()];
    const [otk] = await dave.oneTimePreKeyIds();
    const establishment = await carol.initiate(daveDid, await dave.bundle());
    expect(await dave.accept(carolDid, establishment, await carol.send(daveDid, 'one'))).toBe('one');
    expect(await dave.oneTimePreKeyIds()).not.toContain(otk);
    await abortAllDurableObjects();
    [carol, dave] = [host('carol'), host('dave')];
    expect(await carol.receive(daveDid, await dave.send(carolDid, 'two'))).toBe('two');
    await abortAllDurableObjects();
    [carol, dave] = [host('carol'), host('dave')];
    expect(await dave.receive(carolDid, await carol.send(daveDid, 'three'))).toBe('three');
    expect(await carol.receive(daveDid, await dave.send(carolDid, 'four'))).toBe('four');
  });
});

describe('DurableObjectAgentStore on real Durable Object storage', () => {
  it('applies batches atomically and claims a one-time pre-key once', async () => {
    await runInDurableObject(host('store'), async (_instance, state) => {
      const store = await DurableObjectAgentStore.open(state.storage, { prefix: 'contract/' });
      const key = (keyId: number) => ({ keyId, publicKey: new Uint8Array(32).fill(1), privateKey: new Uint8Array(32).fill(2) });
      await store.write([{ op: 'addOneTimePreKey', record: key(1) }]);
      await expect(
        store.write([
          { op: 'addOneTimePreKey', record: key(2) },
          { op: 'consumeOneTimePreKey', keyId: 1 },
          { op: 'consumeOneTimePreKey', keyId: 99 },
        ]),
      ).rejects.toBeInstanceOf(PreKeyNotFoundError);
      expect(await store.listOneTimePreKeyIds()).toEqual([1]);
      await store.write([{ op: 'consumeOneTimePreKey', keyId: 1 }]);
      await expect(store.write([{ op: 'consumeOneTimePreKey', keyId: 1 }])).rejects.toBeInstanceOf(PreKeyNotFoundError);

      const session = (revision: number) => ({
        peerDid: 'did:agentmesh:x',
        revision,
        channel: { state: 'opaque' },
        metadata: {},
        trust: { score: 1 },
        createdAt: 0,
        updatedAt: 0,
      });
      await store.write([{ op: 'putSession', record: session(1), expectedRevision: null }]);
      await expect(store.write([{ op: 'putSession', record: session(1), expectedRevision: null }])).rejects.toBeInstanceOf(StoreConflictError);
      expect(await store.getSession('did:agentmesh:x')).toEqual(session(1));
      // The agent's own records under the default prefix are untouched by this prefix.
      expect((await DurableObjectAgentStore.open(state.storage)).lockScope).not.toBe(store.lockScope);
    });
  });
});
