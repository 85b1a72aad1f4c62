import 'fake-indexeddb/auto';
import { describe, expect, it, vi } from 'vitest';
import { AgentIdentity } from '../src/identity/agent-identity.js';
import { AuthenticationError, InvalidDidError, PreKeyNotFoundError, ReplayedMessageError } from '../src/errors.js';
import { encodeEstablishment } from '../src/channel/establishment.js';
import { encodeBundle } from '../src/x3dh/bundle.js';
import {
  IdentityMismatchError,
  IdentityNotFoundError,
  SessionExistsError,
  SessionManager,
  SessionManagerClosedError,
  SessionNotFoundError,
} from '../src/session/index.js';
import {
  CorruptRecordError,
  IndexedDBAgentStore,
  MemoryAgentStore,
  MutexLocks,
  StorageError,
  StoreConflictError,
  type AgentStore,
} from '../src/storage/index.js';
import { connect, flaky, newAgent, text, uniqueName, utf8 } from './session-fixtures.js';

const backends: [string, () => Promise<AgentStore>][] = [
  ['memory', async () => new MemoryAgentStore()],
  ['indexeddb', () => IndexedDBAgentStore.open({ name: uniqueName('session') })],
];

describe.each(backends)('SessionManager over %s', (_name, makeStore) => {
  it('runs a session both ways, out of order, and deletes the consumed one-time pre-key', async () => {
    const alice = await newAgent(await makeStore());
    const bob = await newAgent(await makeStore(), { oneTime: 2 });
    const [otk, spare] = await bob.preKeys.oneTimePreKeyIds();
    const establishment = await alice.initiate(bob.did, await bob.preKeys.getPublicBundle(otk));
    expect((await alice.getSession(bob.did))?.establishment).not.toBeNull();
    const m0 = await alice.send(bob.did, utf8('zero'));
    const m1 = await alice.send(bob.did, utf8('one'));
    const m2 = await alice.send(bob.did, utf8('two'));
    expect(text(await bob.accept(alice.did, establishment, { firstMessage: m2 }))).toBe('two');
    expect(await bob.preKeys.oneTimePreKeyIds()).toEqual([spare]);
    expect(text(await bob.receive(alice.did, m0))).toBe('zero');
    expect(text(await bob.receive(alice.did, m1))).toBe('one');
    await expect(bob.receive(alice.did, m1)).rejects.toBeInstanceOf(ReplayedMessageError);
    const r = await bob.send(alice.did, utf8('back'));
    expect(text(await alice.receive(bob.did, r))).toBe('back');
    const info = await alice.getSession(bob.did);
    expect(info).toMatchObject({ role: 'initiator', establishment: null, messageCount: 4 });
    expect((await bob.getSession(alice.did))?.role).toBe('responder');
  });

  it('accepts without a first message and learns which retained signed pre-key was used from it', async () => {
    let now = 1_000_000;
    const clock = () => now;
    const alice = await newAgent(await makeStore(), { now: clock });
    const bob = await newAgent(await makeStore(), { now: clock, oneTime: 0 });
    // The initiator fetched the bundle, then the responder rotated; the reference's establishment names no SPK.
    const oldBundle = await bob.preKeys.getPublicBundle();
    now += 1000;
    await bob.preKeys.rotateSignedPreKey();
    const establishment = { ...(await alice.initiate(bob.did, oldBundle)), signedPreKeyId: null };
    expect(await bob.accept(alice.did, establishment)).toBeNull();
    // Not decided yet: the responder cannot send before the first message.
    await expect(bob.send(alice.did, utf8('too early'))).rejects.toThrow(/first message/);
    const m = await alice.send(bob.did, utf8('via the retained key'));
    expect(text(await bob.receive(alice.did, m))).toBe('via the retained key');
    expect(text(await alice.receive(bob.did, await bob.send(alice.did, utf8('ok'))))).toBe('ok');
  });

  it('treats a retransmitted establishment as a plain receive', async () => {
    const alice = await newAgent(await makeStore());
    const bob = await newAgent(await makeStore());
    const [otk] = await bob.preKeys.oneTimePreKeyIds();
    const establishment = await alice.initiate(bob.did, encodeBundle(await bob.preKeys.getPublicBundle(otk)));
    const m0 = await alice.send(bob.did, utf8('a'));
    const m1 = await alice.send(bob.did, utf8('b'));
    expect(text(await bob.accept(alice.did, encodeEstablishment(establishment), { firstMessage: m0 }))).toBe('a');
    // The initiator attaches the establishment until it hears back; the one-time key is gone by now.
    expect(text(await bob.accept(alice.did, JSON.stringify(encodeEstablishment(establishment)), { firstMessage: m1.serialize() }))).toBe('b');
  });

  it('refuses a used one-time pre-key, an unknown peer, a bad DID and a bundle of another key', async () => {
    const alice = await newAgent(await makeStore());
    const bob = await newAgent(await makeStore());
    const carol = await newAgent(await makeStore());
    const [otk] = await bob.preKeys.oneTimePreKeyIds();
    const bundle = await bob.preKeys.getPublicBundle(otk);
    const eA = await alice.initiate(bob.did, bundle);
    await bob.accept(alice.did, eA, { firstMessage: await alice.send(bob.did, utf8('x')) });
    const eC = await carol.initiate(bob.did, bundle);
    await expect(bob.accept(carol.did, eC, { firstMessage: await carol.send(bob.did, utf8('y')) })).rejects.toBeInstanceOf(PreKeyNotFoundError);
    expect(await bob.hasSession(carol.did)).toBe(false);
    await expect(alice.send(carol.did, utf8('?'))).rejects.toBeInstanceOf(SessionNotFoundError);
    await expect(alice.send('did:web:example.com', utf8('?'))).rejects.toBeInstanceOf(InvalidDidError);
    await expect(alice.initiate(carol.did, bundle)).rejects.toBeInstanceOf(IdentityMismatchError);
    await expect(alice.initiate(bob.did, bundle)).rejects.toBeInstanceOf(SessionExistsError);
  });

  it('stores nothing for a first message that does not authenticate', async () => {
    const alice = await newAgent(await makeStore());
    const bob = await newAgent(await makeStore());
    const [otk] = await bob.preKeys.oneTimePreKeyIds();
    const establishment = await alice.initiate(bob.did, await bob.preKeys.getPublicBundle(otk));
    const good = await alice.send(bob.did, utf8('real'));
    const forged = good.serialize();
    forged[forged.length - 1]! ^= 1;
    await expect(bob.accept(alice.did, establishment, { firstMessage: forged })).rejects.toBeInstanceOf(AuthenticationError);
    expect(await bob.hasSession(alice.did)).toBe(false);
    expect(await bob.preKeys.oneTimePreKeyIds()).toContain(otk);
    expect(text(await bob.accept(alice.did, establishment, { firstMessage: good }))).toBe('real');
  });

  it('checks a known Ed25519 key of the initiator against its DID and establishment', async () => {
    const alice = await newAgent(await makeStore());
    const bob = await newAgent(await makeStore());
    const establishment = await alice.initiate(bob.did, await bob.preKeys.getPublicBundle());
    await expect(bob.accept(alice.did, establishment, { peerIdentityKeyEd: bob.identityPublicKey })).rejects.toBeInstanceOf(IdentityMismatchError);
    await bob.accept(alice.did, establishment, { peerIdentityKeyEd: alice.identityPublicKey });
    expect((await bob.getSession(alice.did))?.peerIdentityKeyEd).toEqual(alice.identityPublicKey);
  });

  it('keeps the trust result as opaque JSON and can replace or delete a session', async () => {
    const alice = await newAgent(await makeStore());
    const bob = await newAgent(await makeStore());
    await alice.initiate(bob.did, await bob.preKeys.getPublicBundle(), { trust: { score: 850, verified: true } });
    expect((await alice.getSession(bob.did))?.trust).toEqual({ score: 850, verified: true });
    await alice.setTrust(bob.did, { score: 300, reasons: ['revoked'] });
    expect((await alice.getSession(bob.did))?.trust).toEqual({ score: 300, reasons: ['revoked'] });
    await alice.initiate(bob.did, await bob.preKeys.getPublicBundle(), { replace: true });
    expect((await alice.getSession(bob.did))?.trust).toBeNull();
    expect(await alice.listSessions()).toEqual([bob.did]);
    expect(await alice.deleteSession(bob.did)).toBe(true);
    expect(await alice.deleteSession(bob.did)).toBe(false);
    expect(await alice.listSessions()).toEqual([]);
  });

  it('rotates signed pre-keys, keeps them for the retention window and deletes them after', async () => {
    let now = 0;
    const store = await makeStore();
    const bob = await newAgent(store, { now: () => now, signedPreKeyRetentionMs: 10_000, oneTime: 0 });
    const first = (await bob.preKeys.getPublicBundle()).signedPreKeyId;
    now = 5_000;
    const second = (await bob.preKeys.rotateSignedPreKey()).signedPreKeyId;
    expect((await store.getSignedPreKeys()).map((k) => [k.keyId, k.retiredAt])).toEqual([
      [first, 5_000],
      [second, null],
    ]);
    now = 20_000;
    const third = (await bob.preKeys.rotateSignedPreKey()).signedPreKeyId;
    expect((await store.getSignedPreKeys()).map((k) => k.keyId)).toEqual([second, third]);
    expect(new Set([first, second, third]).size).toBe(3);
  });

  it('opens with the stored identity and refuses another one', async () => {
    const store = await makeStore();
    await expect(SessionManager.open({ store })).rejects.toBeInstanceOf(IdentityNotFoundError);
    const identity = await AgentIdentity.generate();
    const first = await SessionManager.open({ store, identity });
    const again = await SessionManager.open({ store });
    expect(again.did).toBe(identity.did);
    await expect(SessionManager.open({ store, identity: await AgentIdentity.generate() })).rejects.toBeInstanceOf(IdentityMismatchError);
    first.close();
    await expect(first.listSessions()).rejects.toBeInstanceOf(SessionManagerClosedError);
    expect(await again.listSessions()).toEqual([]);
  });
});

describe('a store that fails on write', () => {
  it.each(backends)('over %s: loses nothing, delivers nothing, and a retry succeeds', async (_name, makeStore) => {
    const a = flaky(await makeStore());
    const b = flaky(await makeStore());
    const alice = await newAgent(a.store);
    const bob = await newAgent(b.store);
    const [otk] = await bob.preKeys.oneTimePreKeyIds();
    const bundle = await bob.preKeys.getPublicBundle(otk);

    a.failWrites(1);
    await expect(alice.initiate(bob.did, bundle)).rejects.toBeInstanceOf(StorageError);
    expect(await alice.hasSession(bob.did)).toBe(false);
    const establishment = await alice.initiate(bob.did, bundle);

    // send: no ciphertext leaves, the chain stays where it was, and the retry's message decrypts.
    const before = await a.store.getSession(bob.did);
    a.failWrites(1);
    await expect(alice.send(bob.did, utf8('first'))).rejects.toBeInstanceOf(StorageError);
    expect(await a.store.getSession(bob.did)).toEqual(before);
    const m0 = await alice.send(bob.did, utf8('first'));
    expect(m0.header.messageNumber).toBe(0);

    // accept: neither the session nor the one-time pre-key deletion is kept; the retry works.
    b.failWrites(1);
    await expect(bob.accept(alice.did, establishment, { firstMessage: m0 })).rejects.toBeInstanceOf(StorageError);
    expect(await bob.hasSession(alice.did)).toBe(false);
    expect(await bob.preKeys.oneTimePreKeyIds()).toContain(otk);
    expect(text(await bob.accept(alice.did, establishment, { firstMessage: m0 }))).toBe('first');
    expect(await bob.preKeys.oneTimePreKeyIds()).not.toContain(otk);

    // receive: no plaintext, state unchanged, the same message decrypts on retry.
    const m1 = await alice.send(bob.did, utf8('second'));
    const bobBefore = await b.store.getSession(alice.did);
    b.failWrites(1);
    await expect(bob.receive(alice.did, m1)).rejects.toBeInstanceOf(StorageError);
    expect(await b.store.getSession(alice.did)).toEqual(bobBefore);
    expect(text(await bob.receive(alice.did, m1))).toBe('second');

    const reply = await bob.send(alice.did, utf8('reply'));
    a.failWrites(1);
    await expect(alice.receive(bob.did, reply)).rejects.toBeInstanceOf(StorageError);
    expect(text(await alice.receive(bob.did, reply))).toBe('reply');
  });

  it('when IndexedDB itself aborts the transaction mid-way, nothing of the batch is kept', async () => {
    const aliceStore = await IndexedDBAgentStore.open({ name: uniqueName('abort') });
    const bobStore = await IndexedDBAgentStore.open({ name: uniqueName('abort') });
    const alice = await newAgent(aliceStore);
    const bob = await newAgent(bobStore);
    const [otk] = await bob.preKeys.oneTimePreKeyIds();
    const establishment = await alice.initiate(bob.did, await bob.preKeys.getPublicBundle(otk));
    const m0 = await alice.send(bob.did, utf8('quota'));
    // The batch deletes the one-time key, then puts the session: fail the put after the delete ran.
    const put = vi.spyOn(IDBObjectStore.prototype, 'put').mockImplementationOnce(() => {
      throw new DOMException('the disk is full', 'QuotaExceededError');
    });
    try {
      await expect(bob.accept(alice.did, establishment, { firstMessage: m0 })).rejects.toBeInstanceOf(StorageError);
      expect(put).toHaveBeenCalledTimes(1);
    } finally {
      put.mockRestore();
    }
    expect(await bob.preKeys.oneTimePreKeyIds()).toContain(otk);
    expect(await bob.hasSession(alice.did)).toBe(false);
    expect(text(await bob.accept(alice.did, establishment, { firstMessage: m0 }))).toBe('quota');
  });
});

describe('one writer per session', () => {
  it.each(backends)('over %s: concurrent receives of different messages serialize and both succeed', async (_name, makeStore) => {
    const alice = await newAgent(await makeStore());
    const bob = await newAgent(await makeStore());
    await connect(alice, bob);
    const messages = [];
    for (let i = 0; i < 6; i++) messages.push(await alice.send(bob.did, utf8(`m${i}`)));
    const got = await Promise.all(messages.reverse().map((m) => bob.receive(alice.did, m)));
    expect(got.map(text)).toEqual(['m5', 'm4', 'm3', 'm2', 'm1', 'm0']);
    // Sends interleaved with receives on the other side, all at once.
    const out = await Promise.all([0, 1, 2].map((i) => bob.send(alice.did, utf8(`r${i}`))));
    expect(new Set(out.map((m) => m.header.messageNumber)).size).toBe(3);
    expect((await Promise.all(out.map((m) => alice.receive(bob.did, m)))).map(text).sort()).toEqual(['r0', 'r1', 'r2']);
  });

  it('two writers that do not share a lock (two tabs without Web Locks) cannot fork the ratchet', async () => {
    const name = uniqueName('tabs');
    const alice = await newAgent(await IndexedDBAgentStore.open({ name: uniqueName('peer') }));
    const tab1 = await newAgent(await IndexedDBAgentStore.open({ name }), { locks: new MutexLocks() });
    await connect(alice, tab1);
    // Each tab has its own store object and its own mutex; a barrier makes both read the same revision.
    let arrived = 0;
    let release!: () => void;
    const bothRead = new Promise<void>((resolve) => (release = resolve));
    const racing = async (): Promise<AgentStore> => {
      const inner = await IndexedDBAgentStore.open({ name });
      return new Proxy(inner, {
        get(target, prop) {
          if (prop === 'getSession') {
            return async (peer: string) => {
              const record = await target.getSession(peer);
              if (++arrived === 2) release();
              await bothRead;
              return record;
            };
          }
          const v = Reflect.get(target, prop, target) as unknown;
          return typeof v === 'function' ? (v as () => unknown).bind(target) : v;
        },
      });
    };
    const t1 = await SessionManager.open({ store: await racing(), locks: new MutexLocks() });
    const t2 = await SessionManager.open({ store: await racing(), locks: new MutexLocks() });
    const m0 = await alice.send(tab1.did, utf8('x'));
    const m1 = await alice.send(tab1.did, utf8('y'));
    const results = await Promise.allSettled([t1.receive(alice.did, m0), t2.receive(alice.did, m1)]);
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(failed).toHaveLength(1);
    expect(failed[0]!.reason).toBeInstanceOf(StoreConflictError);
    // The loser retries (here through tab 1's plain manager) against the state the winner stored.
    const retry = results[0]!.status === 'rejected' ? [m0, 'x'] : [m1, 'y'];
    expect(text(await tab1.receive(alice.did, retry[0] as typeof m0))).toBe(retry[1]);
    const reply = await tab1.send(alice.did, utf8('after the race'));
    expect(text(await alice.receive(tab1.did, reply))).toBe('after the race');
  });
});

describe('bad stored data', () => {
  it('a corrupt session record gives CorruptRecordError and changes nothing', async () => {
    const store = new MemoryAgentStore();
    const alice = await newAgent(store);
    const bob = await newAgent(new MemoryAgentStore());
    await connect(alice, bob);
    const record = (await store.getSession(bob.did))!;
    const broken = structuredClone(record) as unknown as { channel: { channels: { state: { root_key: string } }[] } };
    broken.channel.channels[0]!.state.root_key = 'not hex';
    await store.write([{ op: 'putSession', record: { ...record, ...broken, revision: record.revision + 1 } as never, expectedRevision: record.revision }]);
    const m = await bob.send(alice.did, utf8('lost?'));
    await expect(alice.receive(bob.did, m)).rejects.toBeInstanceOf(CorruptRecordError);
    await expect(alice.send(bob.did, utf8('x'))).rejects.toBeInstanceOf(CorruptRecordError);
    expect((await store.getSession(bob.did))!.revision).toBe(record.revision + 1);
  });
});
