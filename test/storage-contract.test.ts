import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { PreKeyNotFoundError } from '../src/errors.js';
import {
  DurableObjectAgentStore,
  IndexedDBAgentStore,
  InvalidRecordError,
  MemoryAgentStore,
  StorageError,
  StorageSchemaError,
  StoreClosedError,
  StoreConflictError,
  type AgentStore,
  type DurableObjectKvLike,
  type DurableObjectStorageLike,
  type JsonValue,
  type OneTimePreKeyRecord,
  type SessionRecord,
  type SignedPreKeyRecord,
} from '../src/storage/index.js';
import { uniqueName } from './session-fixtures.js';

/**
 * A Node stand-in for a Durable Object's transactional KV storage (sorted keys, structured-clone
 * values, a transaction that applies all or nothing). The real thing runs in test/workerd.
 */
class FakeDurableObjectStorage implements DurableObjectStorageLike {
  data = new Map<string, unknown>();
  async get(key: string) {
    return structuredClone(this.data.get(key));
  }
  async put(key: string, value: unknown) {
    this.data.set(key, structuredClone(value));
  }
  async delete(key: string) {
    return this.data.delete(key);
  }
  async list(options: { prefix: string; limit?: number; startAfter?: string }) {
    return list(this.data, options);
  }
  async transaction<T>(closure: (txn: DurableObjectKvLike) => Promise<T>): Promise<T> {
    const staged = new Map(this.data);
    const txn: DurableObjectKvLike = {
      get: async (key) => structuredClone(staged.get(key)),
      put: async (key, value) => void staged.set(key, structuredClone(value)),
      delete: async (key) => staged.delete(key),
      list: async (options) => list(staged, options),
    };
    const result = await closure(txn);
    this.data = staged;
    return result;
  }
}

function list(data: Map<string, unknown>, { prefix, limit = Infinity, startAfter }: { prefix: string; limit?: number; startAfter?: string }) {
  const keys = [...data.keys()].filter((k) => k.startsWith(prefix) && (startAfter === undefined || k > startAfter)).sort();
  return new Map(keys.slice(0, limit).map((k) => [k, structuredClone(data.get(k))]));
}

const bytes = (fill: number, length = 32) => new Uint8Array(length).fill(fill);
const otk = (keyId: number): OneTimePreKeyRecord => ({ keyId, publicKey: bytes(1), privateKey: bytes(2) });
const spk = (keyId: number, retiredAt: number | null = null): SignedPreKeyRecord => ({
  keyId,
  publicKey: bytes(3),
  privateKey: bytes(4),
  signature: bytes(5, 64),
  createdAt: 1,
  retiredAt,
});
const session = (peerDid: string, revision: number, extra: Partial<SessionRecord> = {}): SessionRecord => ({
  peerDid,
  revision,
  channel: { version: 1, secret: 'ratchet state', n: revision },
  metadata: { role: 'initiator' },
  trust: null,
  createdAt: 1,
  updatedAt: 2,
  ...extra,
});

const stores: [string, () => Promise<AgentStore>][] = [
  ['memory', async () => new MemoryAgentStore()],
  ['indexeddb', () => IndexedDBAgentStore.open({ name: uniqueName('contract') })],
  ['durable-object (Node stand-in)', () => DurableObjectAgentStore.open(new FakeDurableObjectStorage())],
];

describe.each(stores)('AgentStore contract: %s', (_name, makeStore) => {
  it('stores each kind of record and returns copies the caller owns', async () => {
    const store = await makeStore();
    const seed = bytes(9);
    await store.write([
      { op: 'addIdentity', record: { did: 'did:agentmesh:x', publicKey: bytes(8), seed, createdAt: 5 } },
      { op: 'putSignedPreKey', record: spk(1, 100), ifAbsent: true },
      { op: 'putSignedPreKey', record: spk(2), ifAbsent: true },
      { op: 'addOneTimePreKey', record: otk(10) },
      { op: 'addOneTimePreKey', record: otk(9) },
      { op: 'setCounters', counters: { nextSignedPreKeyId: 3, nextOneTimePreKeyId: 11 }, expected: { nextSignedPreKeyId: 0, nextOneTimePreKeyId: 0 } },
      { op: 'putSession', record: session('did:agentmesh:b', 1), expectedRevision: null },
      { op: 'putSession', record: session('did:agentmesh:a', 1, { trust: { score: 1 } }), expectedRevision: null },
    ]);
    expect(seed).toEqual(bytes(9)); // the caller's bytes are untouched by the store
    const identity = await store.getIdentity();
    expect(identity).toMatchObject({ did: 'did:agentmesh:x', seed: bytes(9), createdAt: 5 });
    identity!.seed.fill(0);
    expect((await store.getIdentity())!.seed).toEqual(bytes(9));
    expect((await store.getSignedPreKeys()).map((k) => [k.keyId, k.retiredAt])).toEqual([
      [1, 100],
      [2, null],
    ]);
    expect(await store.listOneTimePreKeyIds()).toEqual([9, 10]);
    expect(await store.getOneTimePreKey(10)).toEqual(otk(10));
    expect(await store.getOneTimePreKey(11)).toBeNull();
    expect(await store.getCounters()).toEqual({ nextSignedPreKeyId: 3, nextOneTimePreKeyId: 11 });
    expect(await store.listSessions()).toEqual(['did:agentmesh:a', 'did:agentmesh:b']);
    expect(await store.getSession('did:agentmesh:a')).toEqual(session('did:agentmesh:a', 1, { trust: { score: 1 } }));
    expect(await store.getSession('did:agentmesh:nobody')).toBeNull();
  });

  it('applies a batch all or nothing', async () => {
    const store = await makeStore();
    await store.write([{ op: 'addOneTimePreKey', record: otk(1) }]);
    await expect(
      store.write([
        { op: 'addOneTimePreKey', record: otk(2) },
        { op: 'putSession', record: session('did:agentmesh:a', 1), expectedRevision: null },
        { op: 'consumeOneTimePreKey', keyId: 1 },
        { op: 'consumeOneTimePreKey', keyId: 77 },
      ]),
    ).rejects.toBeInstanceOf(PreKeyNotFoundError);
    expect(await store.listOneTimePreKeyIds()).toEqual([1]);
    expect(await store.listSessions()).toEqual([]);
  });

  it('claims a one-time pre-key once', async () => {
    const store = await makeStore();
    await store.write([{ op: 'addOneTimePreKey', record: otk(4) }]);
    await store.write([{ op: 'consumeOneTimePreKey', keyId: 4 }]);
    await expect(store.write([{ op: 'consumeOneTimePreKey', keyId: 4 }])).rejects.toBeInstanceOf(PreKeyNotFoundError);
    await expect(store.write([{ op: 'addOneTimePreKey', record: otk(5) }, { op: 'addOneTimePreKey', record: otk(5) }])).rejects.toBeInstanceOf(
      StoreConflictError,
    );
  });

  it('refuses writes whose preconditions no longer hold', async () => {
    const store = await makeStore();
    const peer = 'did:agentmesh:p';
    await store.write([{ op: 'putSession', record: session(peer, 1), expectedRevision: null }]);
    await expect(store.write([{ op: 'putSession', record: session(peer, 1), expectedRevision: null }])).rejects.toBeInstanceOf(StoreConflictError);
    await store.write([{ op: 'putSession', record: session(peer, 2), expectedRevision: 1 }]);
    // A writer that read revision 1 and computed on it is refused: its state would fork the ratchet.
    await expect(store.write([{ op: 'putSession', record: session(peer, 2), expectedRevision: 1 }])).rejects.toBeInstanceOf(StoreConflictError);
    await expect(store.write([{ op: 'deleteSession', peerDid: peer, expectedRevision: 1 }])).rejects.toBeInstanceOf(StoreConflictError);
    expect((await store.getSession(peer))!.revision).toBe(2);
    await store.write([{ op: 'deleteSession', peerDid: peer, expectedRevision: 2 }]);
    expect(await store.getSession(peer)).toBeNull();

    const identity = { did: 'did:agentmesh:x', publicKey: bytes(1), seed: bytes(2), createdAt: 0 };
    await store.write([{ op: 'addIdentity', record: identity }]);
    await expect(store.write([{ op: 'addIdentity', record: identity }])).rejects.toBeInstanceOf(StoreConflictError);

    const zero = { nextSignedPreKeyId: 0, nextOneTimePreKeyId: 0 };
    await store.write([{ op: 'setCounters', counters: { nextSignedPreKeyId: 1, nextOneTimePreKeyId: 0 }, expected: zero }]);
    await expect(store.write([{ op: 'setCounters', counters: { nextSignedPreKeyId: 2, nextOneTimePreKeyId: 0 }, expected: zero }])).rejects.toBeInstanceOf(
      StoreConflictError,
    );
    await store.write([{ op: 'putSignedPreKey', record: spk(0), ifAbsent: true }]);
    await expect(store.write([{ op: 'putSignedPreKey', record: spk(0), ifAbsent: true }])).rejects.toBeInstanceOf(StoreConflictError);
    await store.write([{ op: 'putSignedPreKey', record: spk(0, 50) }]);
    expect((await store.getSignedPreKeys())[0]!.retiredAt).toBe(50);
  });

  it('refuses malformed records before writing anything', async () => {
    const store = await makeStore();
    const bad: unknown[] = [
      [{ op: 'addOneTimePreKey', record: { ...otk(1), privateKey: bytes(1, 31) } }],
      [{ op: 'addOneTimePreKey', record: { ...otk(-1) } }],
      [{ op: 'putSession', record: session('did:agentmesh:a', 2), expectedRevision: null }],
      [{ op: 'putSession', record: session('', 1), expectedRevision: null }],
      [{ op: 'putSession', record: session('did:agentmesh:a', 1, { channel: { f: (() => 1) as never } }), expectedRevision: null }],
      [{ op: 'putSession', record: session('did:agentmesh:a', 1, { channel: { n: Number.NaN } }), expectedRevision: null }],
      [{ op: 'putSession', record: session('did:agentmesh:a', 1, { metadata: { big: 'x'.repeat(70_000) } }), expectedRevision: null }],
      [{ op: 'putSession', record: session('did:agentmesh:a', 1, { trust: nest(40) }), expectedRevision: null }],
      [{ op: 'format disk' }],
    ];
    for (const batch of bad) {
      // A valid write first: it must not survive its invalid neighbour.
      await expect(store.write([{ op: 'addOneTimePreKey', record: otk(99) }, ...(batch as [])])).rejects.toBeInstanceOf(InvalidRecordError);
    }
    await expect(store.write('not a batch' as never)).rejects.toBeInstanceOf(InvalidRecordError);
    expect(await store.listOneTimePreKeyIds()).toEqual([]);
    expect(await store.listSessions()).toEqual([]);
  });

  it('reports a closed store', async () => {
    const store = await makeStore();
    await store.close();
    await expect(store.getSession('did:agentmesh:a')).rejects.toBeInstanceOf(StoreClosedError);
    await expect(store.write([{ op: 'addOneTimePreKey', record: otk(1) }])).rejects.toBeInstanceOf(StoreClosedError);
  });
});

function nest(depth: number): JsonValue {
  let v: JsonValue = {};
  for (let i = 0; i < depth; i++) v = { v };
  return v;
}

describe('DurableObjectAgentStore key layout', () => {
  it('checks its schema version and lists past one page', async () => {
    const storage = new FakeDurableObjectStorage();
    const store = await DurableObjectAgentStore.open(storage, { prefix: 'am/' });
    expect(storage.data.get('am/schema')).toBe(1);
    const batch = Array.from({ length: 600 }, (_, i) => ({ op: 'addOneTimePreKey' as const, record: otk(i) }));
    await store.write(batch);
    expect(await store.listOneTimePreKeyIds()).toEqual(Array.from({ length: 600 }, (_, i) => i));
    // Other keys of the object are left alone; a newer schema is refused.
    await storage.put('unrelated', 1);
    await DurableObjectAgentStore.open(storage, { prefix: 'am/' });
    storage.data.set('am/schema', 2);
    await expect(DurableObjectAgentStore.open(storage, { prefix: 'am/' })).rejects.toBeInstanceOf(StorageSchemaError);
    storage.data.set('am/schema', 'one');
    await expect(DurableObjectAgentStore.open(storage, { prefix: 'am/' })).rejects.toBeInstanceOf(StorageSchemaError);
    storage.data.delete('am/schema');
    await expect(DurableObjectAgentStore.open(storage, { prefix: 'am/' })).rejects.toBeInstanceOf(StorageSchemaError);
  });

  it('turns platform failures into StorageError and corrupt values into CorruptRecordError', async () => {
    const storage = new FakeDurableObjectStorage();
    const store = await DurableObjectAgentStore.open(storage);
    await store.write([{ op: 'putSession', record: session('did:agentmesh:a', 1), expectedRevision: null }]);
    storage.data.set('agentmesh/session/did:agentmesh:a', { ...(storage.data.get('agentmesh/session/did:agentmesh:a') as object), channel: '{"cut' });
    await expect(store.getSession('did:agentmesh:a')).rejects.toMatchObject({ code: 'corrupt_record' });
    storage.data.set('agentmesh/session/did:agentmesh:a', { ...session('did:agentmesh:b', 1), channel: '{}' });
    await expect(store.getSession('did:agentmesh:a')).rejects.toMatchObject({ code: 'corrupt_record' });
    storage.transaction = async () => {
      throw new Error('Durable Object reset because its code was updated');
    };
    await expect(store.write([{ op: 'addOneTimePreKey', record: otk(1) }])).rejects.toBeInstanceOf(StorageError);
  });
});
