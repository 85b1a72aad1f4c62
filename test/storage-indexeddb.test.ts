import 'fake-indexeddb/auto';
import { openDB } from 'idb';
import { describe, expect, it, vi } from 'vitest';
import { toBase64Url, toHex } from '../src/encoding.js';
import { SessionManager } from '../src/session/index.js';
import {
  CorruptRecordError,
  IDB_SCHEMA_VERSION,
  IndexedDBAgentStore,
  StorageSchemaError,
  StoreClosedError,
} from '../src/storage/index.js';
import { ALL_STORES, STORES, upgradeAgentDatabase, WRAPPING_KEY } from '../src/storage/indexeddb-schema.js';
import { connect, newAgent, text, uniqueName, utf8 } from './session-fixtures.js';

/** Every value of every object store, as IndexedDB holds it. */
async function dump(name: string): Promise<Record<string, [IDBValidKey, unknown][]>> {
  const db = await openDB(name);
  const out: Record<string, [IDBValidKey, unknown][]> = {};
  for (const store of db.objectStoreNames) {
    const keys = await db.getAllKeys(store);
    const values = await db.getAll(store);
    out[store] = keys.map((k, i) => [k, values[i]]);
  }
  db.close();
  return out;
}

/** Hex of every byte array and every string in a value, to search for secrets in any encoding. */
function flatten(value: unknown, out: string[] = []): string[] {
  if (value instanceof Uint8Array) out.push(toHex(value));
  else if (value instanceof ArrayBuffer) out.push(toHex(new Uint8Array(value)));
  else if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const v of value) flatten(v, out);
  else if (typeof value === 'object' && value !== null) for (const [k, v] of Object.entries(value)) out.push(k), flatten(v, out);
  return out;
}

async function twoAgents() {
  const aliceName = uniqueName('alice');
  const alice = await newAgent(await IndexedDBAgentStore.open({ name: aliceName }));
  const bob = await newAgent(await IndexedDBAgentStore.open({ name: uniqueName('bob') }));
  await connect(alice, bob);
  return { alice, bob, aliceName };
}

describe('IndexedDB schema', () => {
  it('an upgrade from the first version keeps every record, and sessions continue', async () => {
    const { alice, bob, aliceName } = await twoAgents();
    const early = await bob.send(alice.did, utf8('sent before the upgrade'));
    alice.close();
    await alice.store.close();

    // Rebuild Alice's data as schema version 1 wrote it: same stores, sessions without `revision`.
    const v2 = await dump(aliceName);
    const v1Name = uniqueName('alice-v1');
    const v1 = await openDB(v1Name, 1, {
      upgrade(db, oldVersion, _newVersion, tx) {
        void upgradeAgentDatabase(db, oldVersion, 1, tx);
      },
    });
    expect([...v1.objectStoreNames].sort()).toEqual([...ALL_STORES].sort());
    const tx = v1.transaction(ALL_STORES, 'readwrite');
    for (const [name, entries] of Object.entries(v2)) {
      const store = name as (typeof ALL_STORES)[number];
      for (const [key, value] of entries) {
        if (store === STORES.sessions) {
          const { revision: _dropped, ...v1Session } = value as { revision: number };
          await tx.objectStore(store).put(v1Session);
        } else if (store === STORES.meta || store === STORES.identity) {
          await tx.objectStore(store).put(value, key);
        } else {
          await tx.objectStore(store).put(value);
        }
      }
    }
    await tx.done;
    v1.close();
    const raw = (await dump(v1Name))[STORES.sessions]!;
    expect(raw).toHaveLength(1);
    expect(raw[0]![1]).not.toHaveProperty('revision');

    const upgraded = await IndexedDBAgentStore.open({ name: v1Name });
    const db = await openDB(v1Name);
    expect(db.version).toBe(IDB_SCHEMA_VERSION);
    db.close();
    expect((await upgraded.getSession(bob.did))!.revision).toBe(1);
    const again = await SessionManager.open({ store: upgraded });
    expect(again.did).toBe(alice.did);
    expect(await again.preKeys.oneTimePreKeyIds()).toHaveLength(3);
    expect(text(await again.receive(bob.did, early))).toBe('sent before the upgrade');
    expect(text(await bob.receive(alice.did, await again.send(bob.did, utf8('after the upgrade'))))).toBe('after the upgrade');
    expect((await upgraded.getSession(bob.did))!.revision).toBe(3);
  });

  it('refuses a database written by a newer schema, or one missing its stores', async () => {
    const newer = uniqueName('newer');
    (await openDB(newer, IDB_SCHEMA_VERSION + 1)).close();
    await expect(IndexedDBAgentStore.open({ name: newer })).rejects.toBeInstanceOf(StorageSchemaError);

    const hollow = uniqueName('hollow');
    (await openDB(hollow, IDB_SCHEMA_VERSION, { upgrade: (db) => void db.createObjectStore('something-else') })).close();
    await expect(IndexedDBAgentStore.open({ name: hollow })).rejects.toBeInstanceOf(StorageSchemaError);
  });

  it('steps aside when another tab opens a newer version, and reports itself closed', async () => {
    const name = uniqueName('blocking');
    const store = await IndexedDBAgentStore.open({ name });
    const newer = await openDB(name, IDB_SCHEMA_VERSION + 1);
    expect(newer.version).toBe(IDB_SCHEMA_VERSION + 1);
    newer.close();
    await expect(store.listSessions()).rejects.toBeInstanceOf(StoreClosedError);
  });

  it('writes in strict-durability transactions', async () => {
    const store = await IndexedDBAgentStore.open({ name: uniqueName('durable') });
    const spy = vi.spyOn(IDBDatabase.prototype, 'transaction');
    try {
      await store.write([{ op: 'setCounters', counters: { nextSignedPreKeyId: 1, nextOneTimePreKeyId: 1 }, expected: { nextSignedPreKeyId: 0, nextOneTimePreKeyId: 0 } }]);
      const writes = spy.mock.calls.filter((c) => c[1] === 'readwrite');
      expect(writes.length).toBeGreaterThan(0);
      for (const call of writes) expect(call[2]).toEqual({ durability: 'strict' });
    } finally {
      spy.mockRestore();
    }
  });
});

describe('IndexedDB wrapping at rest', () => {
  it('the values in the database are not the raw keys', async () => {
    const { alice, aliceName } = await twoAgents();
    const store = alice.store;
    // The secrets as the store hands them out (unwrapped).
    const identity = (await store.getIdentity())!;
    const signed = await store.getSignedPreKeys();
    const oneTime = await Promise.all((await store.listOneTimePreKeyIds()).map((id) => store.getOneTimePreKey(id)));
    const sessions = await Promise.all((await store.listSessions()).map((peer) => store.getSession(peer)));
    const state = (s: unknown) => (s as { channel: { channels: { state: Record<string, unknown> }[] } }).channel.channels[0]!.state;
    const secrets: Uint8Array[] = [identity.seed, ...signed.map((k) => k.privateKey), ...oneTime.map((k) => k!.privateKey)];
    const ratchetHex: string[] = sessions.flatMap((s) =>
      ['root_key', 'chain_key_send', 'chain_key_recv', 'dh_self_private'].map((f) => state(s)[f]).filter((v): v is string => typeof v === 'string'),
    );
    expect(secrets.length).toBeGreaterThanOrEqual(5);
    expect(ratchetHex.length).toBeGreaterThanOrEqual(3);

    const everything = flatten(await dump(aliceName)).join('\n');
    for (const s of secrets) {
      expect(everything).not.toContain(toHex(s));
      expect(everything).not.toContain(toBase64Url(s));
    }
    for (const h of ratchetHex) expect(everything.toLowerCase()).not.toContain(h.toLowerCase());
    // Public parts stay readable (they are needed to publish bundles without unwrapping).
    expect(everything).toContain(toHex(identity.publicKey));

    // The wrapping key is an opaque handle that cannot be exported.
    const meta = (await dump(aliceName))[STORES.meta]!;
    const key = meta.find(([k]) => k === WRAPPING_KEY)![1] as CryptoKey;
    expect(key).toBeInstanceOf(CryptoKey);
    expect(key.extractable).toBe(false);
    await expect(crypto.subtle.exportKey('raw', key)).rejects.toThrow();
    await expect(crypto.subtle.exportKey('jwk', key)).rejects.toThrow();
  });

  it('a wrapped value that is altered or moved to another record does not open', async () => {
    const { alice, bob, aliceName } = await twoAgents();
    await alice.store.close();
    const db = await openDB(aliceName);
    const [first, second] = (await db.getAll(STORES.oneTimePreKeys)) as { keyId: number; privateKey: { data: Uint8Array } }[];
    // Move key 1's wrapped private key into key 0's record.
    await db.put(STORES.oneTimePreKeys, { ...first!, privateKey: second!.privateKey });
    const session = (await db.get(STORES.sessions, bob.did)) as { channel: { data: Uint8Array } };
    session.channel.data[5]! ^= 0x40;
    await db.put(STORES.sessions, session);
    db.close();

    const store = await IndexedDBAgentStore.open({ name: aliceName });
    await expect(store.getOneTimePreKey(first!.keyId)).rejects.toBeInstanceOf(CorruptRecordError);
    expect(await store.getOneTimePreKey(second!.keyId)).not.toBeNull();
    await expect(store.getSession(bob.did)).rejects.toBeInstanceOf(CorruptRecordError);
    const manager = await SessionManager.open({ store });
    await expect(manager.receive(bob.did, await bob.send(alice.did, utf8('?')))).rejects.toBeInstanceOf(CorruptRecordError);
  });

  it('refuses to start over silently when the wrapping key is gone but wrapped records remain', async () => {
    const { alice, aliceName } = await twoAgents();
    await alice.store.close();
    const db = await openDB(aliceName);
    await db.delete(STORES.meta, WRAPPING_KEY);
    db.close();
    await expect(IndexedDBAgentStore.open({ name: aliceName })).rejects.toBeInstanceOf(CorruptRecordError);
  });

  it('two stores opened at once on a new database agree on one wrapping key', async () => {
    const name = uniqueName('race');
    const [a, b] = await Promise.all([IndexedDBAgentStore.open({ name }), IndexedDBAgentStore.open({ name })]);
    await a.write([{ op: 'addOneTimePreKey', record: { keyId: 1, publicKey: new Uint8Array(32).fill(1), privateKey: new Uint8Array(32).fill(2) } }]);
    expect((await b.getOneTimePreKey(1))!.privateKey).toEqual(new Uint8Array(32).fill(2));
  });
});
