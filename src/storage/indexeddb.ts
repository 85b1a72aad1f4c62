import { openDB, type IDBPDatabase } from 'idb';
import { AgentMeshError } from '../errors.js';
import { CorruptRecordError, StorageError, StorageSchemaError, StoreClosedError } from './errors.js';
import { ALL_STORES, IDB_SCHEMA_VERSION, STORES, upgradeAgentDatabase, WRAPPING_KEY } from './indexeddb-schema.js';
import {
  checkCounters,
  checkIdentityRecord,
  checkOneTimePreKeyRecord,
  checkRevision,
  checkSessionHead,
  checkSignedPreKeyRecord,
  checkJson,
  INITIAL_COUNTERS,
  STORAGE_LIMITS,
  wipeRecord,
  type IdentityRecord,
  type OneTimePreKeyRecord,
  type PreKeyCounters,
  type SessionRecord,
  type SignedPreKeyRecord,
} from './records.js';
import { generateWrappingKey, isUsableWrappingKey, RecordSealer } from './sealing.js';
import { applyBatch, checkBatch, COUNTERS_KEY, IDENTITY_KEY, type AgentStore, type RecordKind, type StoreWrite } from './store.js';

export interface IndexedDBStoreOptions {
  /** Database name; one database per agent (default `agentmesh`). */
  name?: string;
}

const corrupt = (message: string) => new CorruptRecordError(`stored ${message}`);

const STORE_OF: Record<RecordKind, (typeof ALL_STORES)[number]> = {
  identity: STORES.identity,
  signedPreKey: STORES.signedPreKeys,
  oneTimePreKey: STORES.oneTimePreKeys,
  meta: STORES.meta,
  session: STORES.sessions,
};

/** Where a sealed value lives; authenticated with it so sealed values cannot be swapped between records. */
const sealContext = (kind: RecordKind, key: string | number) => `${STORE_OF[kind]}|${key}`;

/**
 * The browser store: IndexedDB through `idb`, every write one `durability: 'strict'` transaction,
 * private keys and ratchet state sealed with a non-extractable AES-GCM key kept in the database.
 * Plain ESM over `globalThis.indexedDB` and WebCrypto, so pages and Node (with fake-indexeddb) run it alike.
 */
export class IndexedDBAgentStore implements AgentStore {
  readonly name: string;
  readonly lockScope: string;
  readonly #db: IDBPDatabase<unknown>;
  readonly #sealer: RecordSealer;
  #closed = false;

  private constructor(name: string, db: IDBPDatabase<unknown>, sealer: RecordSealer) {
    this.name = name;
    this.lockScope = `indexeddb:${name}`;
    this.#db = db;
    this.#sealer = sealer;
  }

  /** Opens (creating or migrating) the agent's database. */
  static async open(options: IndexedDBStoreOptions = {}): Promise<IndexedDBAgentStore> {
    const name = options.name ?? 'agentmesh';
    if (typeof name !== 'string' || name.length === 0 || name.length > 512) throw new StorageError('the database name must be 1 to 512 characters');
    if (!globalThis.indexedDB) throw new StorageError('IndexedDB is not available in this context');
    let store: IndexedDBAgentStore | undefined;
    let db: IDBPDatabase<unknown>;
    try {
      db = await openDB(name, IDB_SCHEMA_VERSION, {
        upgrade(database, oldVersion, newVersion, tx) {
          upgradeAgentDatabase(database, oldVersion, newVersion ?? IDB_SCHEMA_VERSION, tx).catch(() => {
            // upgradeAgentDatabase aborted the transaction; openDB rejects with the abort.
          });
        },
        // Another tab wants a newer schema: step aside rather than block it; this store then reports closed.
        blocking(_current, _blocked, event) {
          if (store) store.#shut();
          else (event.target as IDBDatabase | null)?.close();
        },
        terminated() {
          if (store) store.#markClosed();
        },
      });
    } catch (cause) {
      if ((cause as { name?: string })?.name === 'VersionError') {
        throw new StorageSchemaError(`database ${JSON.stringify(name)} was written by a newer schema than version ${IDB_SCHEMA_VERSION}`, { cause });
      }
      throw new StorageError(`cannot open database ${JSON.stringify(name)}: ${(cause as Error)?.message ?? cause}`, { cause });
    }
    try {
      const missing = ALL_STORES.filter((s) => !db.objectStoreNames.contains(s));
      if (missing.length > 0) throw new StorageSchemaError(`database ${JSON.stringify(name)} lacks object stores ${missing.join(', ')}`);
      const key = await loadOrCreateWrappingKey(db);
      store = new IndexedDBAgentStore(name, db, new RecordSealer(key));
      return store;
    } catch (error) {
      db.close();
      throw wrapError(error, 'open the database');
    }
  }

  async getIdentity(): Promise<IdentityRecord | null> {
    return this.#guard('read the identity', async () => {
      const v = await this.#db.get(STORES.identity, IDENTITY_KEY);
      if (v === undefined) return null;
      const seed = await this.#sealer.open(field(v, 'seed'), sealContext('identity', IDENTITY_KEY), 32);
      try {
        return checkIdentityRecord({ ...(v as object), seed }, corrupt);
      } finally {
        seed.fill(0);
      }
    });
  }

  async getSignedPreKeys(): Promise<SignedPreKeyRecord[]> {
    return this.#guard('read signed pre-keys', async () => {
      const all = await this.#db.getAll(STORES.signedPreKeys);
      const out: SignedPreKeyRecord[] = [];
      for (const v of all) out.push(await this.#openPreKey(v, 'signedPreKey', checkSignedPreKeyRecord));
      return out.sort((a, b) => a.keyId - b.keyId);
    });
  }

  async getOneTimePreKey(keyId: number): Promise<OneTimePreKeyRecord | null> {
    return this.#guard('read a one-time pre-key', async () => {
      if (!Number.isInteger(keyId) || keyId < 0 || keyId > 0xffffffff) return null;
      const v = await this.#db.get(STORES.oneTimePreKeys, keyId);
      return v === undefined ? null : this.#openPreKey(v, 'oneTimePreKey', checkOneTimePreKeyRecord);
    });
  }

  async listOneTimePreKeyIds(): Promise<number[]> {
    return this.#guard('list one-time pre-keys', async () => {
      const keys = await this.#db.getAllKeys(STORES.oneTimePreKeys);
      return keys.filter((k): k is number => typeof k === 'number').sort((a, b) => a - b);
    });
  }

  async getCounters(): Promise<PreKeyCounters> {
    return this.#guard('read pre-key counters', async () => {
      const v = await this.#db.get(STORES.meta, COUNTERS_KEY);
      return v === undefined ? { ...INITIAL_COUNTERS } : checkCounters(v, corrupt);
    });
  }

  async getSession(peerDid: string): Promise<SessionRecord | null> {
    return this.#guard('read a session', async () => {
      if (typeof peerDid !== 'string' || peerDid.length > STORAGE_LIMITS.maxDidLength) return null;
      const v = await this.#db.get(STORES.sessions, peerDid);
      if (v === undefined) return null;
      const head = checkSessionHead(v, corrupt);
      if (head.peerDid !== peerDid) throw corrupt(`session under ${JSON.stringify(peerDid)} names another peer`);
      const channel = await this.#sealer.openJson(field(v, 'channel'), sealContext('session', peerDid), STORAGE_LIMITS.maxChannelJsonChars);
      return { ...head, channel: checkJson(channel, corrupt, 'session.channel', STORAGE_LIMITS.maxChannelJsonChars) };
    });
  }

  async listSessions(): Promise<string[]> {
    return this.#guard('list sessions', async () => {
      const keys = await this.#db.getAllKeys(STORES.sessions);
      return keys.filter((k): k is string => typeof k === 'string').sort();
    });
  }

  async write(batch: readonly StoreWrite[]): Promise<void> {
    const checked = checkBatch(batch);
    try {
      await this.#write(checked);
    } finally {
      for (const w of checked) if ('record' in w) wipeRecord(w.record);
    }
  }

  async #write(checked: StoreWrite[]): Promise<void> {
    await this.#guard('write', async () => {
      // Seal first: WebCrypto is not an IndexedDB request, and awaiting it inside the transaction
      // would let the transaction commit half-way.
      const sealed = new Map<StoreWrite, unknown>();
      for (const w of checked) {
        const value = await this.#seal(w);
        if (value !== undefined) sealed.set(w, value);
      }
      this.#assertOpen();
      const tx = this.#db.transaction(ALL_STORES, 'readwrite', { durability: 'strict' });
      const store = (kind: RecordKind) => tx.objectStore(STORE_OF[kind]);
      const outOfLine = (kind: RecordKind) => kind === 'identity' || kind === 'meta';
      try {
        await applyBatch(
          {
            exists: async (kind, key) => (await store(kind).count(key)) > 0,
            sessionRevision: async (peer) => {
              const v = await store('session').get(peer);
              return v === undefined ? null : checkRevision((v as { revision?: unknown }).revision, corrupt, 'session.revision');
            },
            counters: async () => {
              const v = await store('meta').get(COUNTERS_KEY);
              return v === undefined ? INITIAL_COUNTERS : checkCounters(v, corrupt);
            },
            put: async (kind, key, w) => {
              const value = sealed.get(w);
              await (outOfLine(kind) ? store(kind).put(value, key) : store(kind).put(value));
            },
            delete: async (kind, key) => store(kind).delete(key),
          },
          checked,
        );
      } catch (error) {
        try {
          tx.abort();
        } catch {
          // the transaction already ended (for example, aborted by the failing request)
        }
        await tx.done.catch(() => undefined);
        throw error;
      }
      await tx.done;
    });
  }

  async close(): Promise<void> {
    this.#shut();
  }

  /** The stored form of a write: secrets sealed, everything else as it is. */
  async #seal(w: StoreWrite): Promise<unknown> {
    const s = this.#sealer;
    switch (w.op) {
      case 'addIdentity':
        return { ...w.record, seed: await s.seal(w.record.seed, sealContext('identity', IDENTITY_KEY)) };
      case 'putSignedPreKey':
        return { ...w.record, privateKey: await s.seal(w.record.privateKey, sealContext('signedPreKey', w.record.keyId)) };
      case 'addOneTimePreKey':
        return { ...w.record, privateKey: await s.seal(w.record.privateKey, sealContext('oneTimePreKey', w.record.keyId)) };
      case 'putSession':
        return { ...w.record, channel: await s.sealJson(w.record.channel, sealContext('session', w.record.peerDid)) };
      case 'setCounters':
        return { ...w.counters };
      default:
        return undefined;
    }
  }

  async #openPreKey<T extends { privateKey: Uint8Array }>(
    v: unknown,
    kind: 'signedPreKey' | 'oneTimePreKey',
    check: (value: unknown, fail: typeof corrupt) => T,
  ): Promise<T> {
    const keyId = (v as { keyId?: unknown })?.keyId;
    if (typeof keyId !== 'number') throw corrupt(`${kind} without a numeric key id`);
    const privateKey = await this.#sealer.open(field(v, 'privateKey'), sealContext(kind, keyId), 32);
    try {
      return check({ ...(v as object), privateKey }, corrupt);
    } finally {
      privateKey.fill(0);
    }
  }

  async #guard<T>(what: string, task: () => Promise<T>): Promise<T> {
    this.#assertOpen();
    try {
      return await task();
    } catch (error) {
      if (this.#closed && !(error instanceof AgentMeshError)) throw new StoreClosedError(`the store closed while trying to ${what}`);
      throw wrapError(error, what);
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new StoreClosedError();
  }

  #shut(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
  }

  #markClosed(): void {
    this.#closed = true;
  }
}

function field(value: unknown, name: string): unknown {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[name] : undefined;
}

/** Typed errors pass through; DOMExceptions and the like become `StorageError` (nothing was written). */
function wrapError(error: unknown, what: string): Error {
  if (error instanceof AgentMeshError) return error;
  const e = error as { name?: string; message?: string } | undefined;
  return new StorageError(`IndexedDB failed to ${what}: ${e?.name ?? 'Error'}: ${e?.message ?? String(error)}`, { cause: error });
}

/**
 * The store's own wrapping key. Created once; if two tabs race to create it, the `add` of the second
 * fails and it uses the first one's key.
 */
async function loadOrCreateWrappingKey(db: IDBPDatabase<unknown>): Promise<CryptoKey> {
  const existing: unknown = await db.get(STORES.meta, WRAPPING_KEY);
  if (existing !== undefined) {
    if (!isUsableWrappingKey(existing)) throw new CorruptRecordError('stored wrapping key is not a usable AES-256-GCM CryptoKey');
    return existing;
  }
  // Without the key that sealed them, stored secrets are lost; say so instead of silently starting over.
  for (const s of [STORES.identity, STORES.signedPreKeys, STORES.oneTimePreKeys, STORES.sessions]) {
    if ((await db.count(s)) > 0) throw new CorruptRecordError('the wrapping key is missing but sealed records remain; they cannot be opened');
  }
  const key = await generateWrappingKey();
  const tx = db.transaction(STORES.meta, 'readwrite', { durability: 'strict' });
  try {
    await tx.store.add(key, WRAPPING_KEY);
    await tx.done;
    return key;
  } catch (cause) {
    await tx.done.catch(() => undefined);
    const winner: unknown = await db.get(STORES.meta, WRAPPING_KEY);
    if (isUsableWrappingKey(winner)) return winner;
    throw new StorageError('cannot store the wrapping key', { cause });
  }
}
