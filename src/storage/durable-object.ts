import { AgentMeshError } from '../errors.js';
import { CorruptRecordError, StorageError, StorageSchemaError, StoreClosedError } from './errors.js';
import {
  checkCounters,
  checkIdentityRecord,
  checkJson,
  checkOneTimePreKeyRecord,
  checkRevision,
  checkSessionHead,
  checkSignedPreKeyRecord,
  INITIAL_COUNTERS,
  STORAGE_LIMITS,
  wipeRecord,
  type IdentityRecord,
  type OneTimePreKeyRecord,
  type PreKeyCounters,
  type SessionRecord,
  type SignedPreKeyRecord,
} from './records.js';
import { applyBatch, checkBatch, writtenValue, type AgentStore, type RecordKind, type StoreWrite } from './store.js';

/**
 * The parts of a Durable Object's `ctx.storage` this adapter uses (the transactional KV API, which
 * SQLite-backed objects keep in their database). Declared here so `src/` needs no Workers typings.
 */
export interface DurableObjectKvLike {
  get(key: string): Promise<unknown>;
  put(key: string, value: unknown): Promise<void>;
  delete(key: string): Promise<boolean>;
  list(options: { prefix: string; limit?: number; startAfter?: string }): Promise<Map<string, unknown>>;
}

export interface DurableObjectStorageLike extends DurableObjectKvLike {
  transaction<T>(closure: (txn: DurableObjectKvLike) => Promise<T>): Promise<T>;
}

export interface DurableObjectStoreOptions {
  /** Key prefix for everything this store writes, so the object can keep other data too (default `agentmesh/`). */
  prefix?: string;
  /**
   * Names this agent's data in lock names. Default: a random id the store keeps in the object's
   * storage, so objects that share an isolate (and its in-process mutex) never wait on each other.
   */
  lockScope?: string;
}

/** The key layout's version, kept under `<prefix>schema`. */
export const DO_SCHEMA_VERSION = 1;

const corrupt = (message: string) => new CorruptRecordError(`stored ${message}`);
const LIST_PAGE = 512;

function idKey(id: number): string {
  // Zero-padded so that listing order is numeric order.
  return id.toString().padStart(10, '0');
}

/**
 * A Durable Object's own storage as an `AgentStore`. Each batch is one `storage.transaction`, so it
 * commits whole or not at all. Values are not wrapped: Durable Object storage is private to the
 * object and encrypted at rest by the platform, and there is nowhere safer in the object to keep a key.
 */
export class DurableObjectAgentStore implements AgentStore {
  readonly lockScope: string;
  readonly #storage: DurableObjectStorageLike;
  readonly #prefix: string;
  #closed = false;

  private constructor(storage: DurableObjectStorageLike, prefix: string, lockScope: string) {
    this.#storage = storage;
    this.#prefix = prefix;
    this.lockScope = lockScope;
  }

  /** Checks (or, on first use, writes) the schema version under the prefix. */
  static async open(storage: DurableObjectStorageLike, options: DurableObjectStoreOptions = {}): Promise<DurableObjectAgentStore> {
    const prefix = options.prefix ?? 'agentmesh/';
    if (typeof prefix !== 'string' || prefix.length > 256) throw new StorageError('the key prefix must be a string of at most 256 characters');
    const key = (suffix: string) => prefix + suffix;
    let scope: string | undefined;
    await guard('open', async () => {
      await storage.transaction(async (txn) => {
        const version = await txn.get(key('schema'));
        if (version === undefined) {
          const existing = await txn.list({ prefix, limit: 1 });
          if (existing.size > 0) throw new StorageSchemaError(`keys under ${JSON.stringify(prefix)} exist without a schema version`);
          await txn.put(key('schema'), DO_SCHEMA_VERSION);
        } else if (typeof version !== 'number' || !Number.isInteger(version) || version < 1) {
          throw new StorageSchemaError(`the stored schema version (${typeof version}) is not a version number`);
        } else if (version > DO_SCHEMA_VERSION) {
          throw new StorageSchemaError(`storage was written by schema version ${version}, newer than ${DO_SCHEMA_VERSION}`);
        }
        // Later versions migrate here, step by step, inside this same transaction.
        if (options.lockScope === undefined) {
          const stored = await txn.get(key('scope'));
          if (typeof stored === 'string' && stored.length > 0 && stored.length <= 64) scope = stored;
          else if (stored !== undefined) throw new StorageSchemaError('the stored lock scope is not a short string');
          else await txn.put(key('scope'), (scope = globalThis.crypto.randomUUID()));
        }
      });
    });
    return new DurableObjectAgentStore(storage, prefix, options.lockScope ?? `durable-object:${scope}:${prefix}`);
  }

  async getIdentity(): Promise<IdentityRecord | null> {
    return this.#read('identity', 'self', (v) => checkIdentityRecord(v, corrupt));
  }

  async getSignedPreKeys(): Promise<SignedPreKeyRecord[]> {
    return this.#guard('read signed pre-keys', async () => {
      const out: SignedPreKeyRecord[] = [];
      for (const [, v] of await this.#listAll(this.#key('spk/'))) {
        try {
          out.push(checkSignedPreKeyRecord(v, corrupt));
        } finally {
          wipeRecord(v);
        }
      }
      return out.sort((a, b) => a.keyId - b.keyId);
    });
  }

  async getOneTimePreKey(keyId: number): Promise<OneTimePreKeyRecord | null> {
    if (!Number.isInteger(keyId) || keyId < 0 || keyId > 0xffffffff) return null;
    return this.#read('oneTimePreKey', keyId, (v) => {
      const record = checkOneTimePreKeyRecord(v, corrupt);
      if (record.keyId !== keyId) throw corrupt(`one-time pre-key under id ${keyId} names id ${record.keyId}`);
      return record;
    });
  }

  async listOneTimePreKeyIds(): Promise<number[]> {
    return this.#guard('list one-time pre-keys', async () => {
      const prefix = this.#key('otk/');
      const ids: number[] = [];
      for (const [key, v] of await this.#listAll(prefix)) {
        const id = Number(key.slice(prefix.length));
        if (!Number.isInteger(id)) throw corrupt(`one-time pre-key key ${JSON.stringify(key.slice(0, 80))}`);
        wipeRecord(v);
        ids.push(id);
      }
      return ids.sort((a, b) => a - b);
    });
  }

  async getCounters(): Promise<PreKeyCounters> {
    return (await this.#read('meta', 'counters', (v) => checkCounters(v, corrupt))) ?? { ...INITIAL_COUNTERS };
  }

  async getSession(peerDid: string): Promise<SessionRecord | null> {
    if (typeof peerDid !== 'string' || peerDid.length > STORAGE_LIMITS.maxDidLength) return null;
    return this.#read('session', peerDid, (v) => {
      const head = checkSessionHead(v, corrupt);
      if (head.peerDid !== peerDid) throw corrupt(`session under ${JSON.stringify(peerDid)} names another peer`);
      const text = (v as { channel?: unknown }).channel;
      if (typeof text !== 'string' || text.length > STORAGE_LIMITS.maxChannelJsonChars) throw corrupt('session channel is not JSON text within limits');
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (cause) {
        throw new CorruptRecordError('stored session channel is not JSON', { cause });
      }
      return { ...head, channel: checkJson(parsed, corrupt, 'session.channel', STORAGE_LIMITS.maxChannelJsonChars) };
    });
  }

  async listSessions(): Promise<string[]> {
    return this.#guard('list sessions', async () => {
      const prefix = this.#key('session/');
      return [...(await this.#listAll(prefix)).keys()].map((k) => k.slice(prefix.length)).sort();
    });
  }

  async write(batch: readonly StoreWrite[]): Promise<void> {
    const checked = checkBatch(batch);
    try {
      await this.#guard('write', () =>
        this.#storage.transaction(async (txn) => {
          await applyBatch(
            {
              exists: async (kind, key) => (await txn.get(this.#recordKey(kind, key))) !== undefined,
              sessionRevision: async (peer) => {
                const v = await txn.get(this.#recordKey('session', peer));
                return v === undefined ? null : checkRevision((v as { revision?: unknown }).revision, corrupt, 'session.revision');
              },
              counters: async () => {
                const v = await txn.get(this.#recordKey('meta', 'counters'));
                return v === undefined ? INITIAL_COUNTERS : checkCounters(v, corrupt);
              },
              put: async (kind, key, w) => {
                const value = writtenValue(w);
                // Sessions keep their channel as JSON text: its size is then known and bounded.
                const stored = w.op === 'putSession' ? { ...w.record, channel: JSON.stringify(w.record.channel) } : value;
                await txn.put(this.#recordKey(kind, key), stored);
              },
              delete: async (kind, key) => void (await txn.delete(this.#recordKey(kind, key))),
            },
            checked,
          );
        }),
      );
    } finally {
      for (const w of checked) if ('record' in w) wipeRecord(w.record);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  #key(suffix: string): string {
    return this.#prefix + suffix;
  }

  #recordKey(kind: RecordKind, key: string | number): string {
    switch (kind) {
      case 'identity':
        return this.#key('identity');
      case 'meta':
        return this.#key(`meta/${key}`);
      case 'signedPreKey':
        return this.#key(`spk/${idKey(key as number)}`);
      case 'oneTimePreKey':
        return this.#key(`otk/${idKey(key as number)}`);
      case 'session':
        return this.#key(`session/${key}`);
    }
  }

  async #read<T>(kind: RecordKind, key: string | number, check: (value: unknown) => T): Promise<T | null> {
    return this.#guard('read', async () => {
      const v = await this.#storage.get(this.#recordKey(kind, key));
      if (v === undefined) return null;
      try {
        return check(v);
      } finally {
        wipeRecord(v);
      }
    });
  }

  /** Every entry under a prefix, a page at a time (a single list call may be capped by the platform). */
  async #listAll(prefix: string): Promise<Map<string, unknown>> {
    const all = new Map<string, unknown>();
    let startAfter: string | undefined;
    for (;;) {
      const page = await this.#storage.list(startAfter === undefined ? { prefix, limit: LIST_PAGE } : { prefix, limit: LIST_PAGE, startAfter });
      for (const [k, v] of page) all.set(k, v);
      if (page.size < LIST_PAGE) return all;
      startAfter = [...page.keys()].pop();
    }
  }

  async #guard<T>(what: string, task: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new StoreClosedError();
    return guard(what, task);
  }
}

/** Typed errors pass through; anything the platform throws becomes `StorageError` (the transaction rolled back). */
async function guard<T>(what: string, task: () => Promise<T>): Promise<T> {
  try {
    return await task();
  } catch (error) {
    if (error instanceof AgentMeshError) throw error;
    throw new StorageError(`Durable Object storage failed to ${what}: ${(error as Error)?.message ?? String(error)}`, { cause: error });
  }
}
