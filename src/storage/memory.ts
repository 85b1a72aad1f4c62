import { StoreClosedError } from './errors.js';
import {
  INITIAL_COUNTERS,
  type IdentityRecord,
  type OneTimePreKeyRecord,
  type PreKeyCounters,
  type SessionRecord,
  type SignedPreKeyRecord,
  wipeRecord,
} from './records.js';
import { applyBatch, checkBatch, COUNTERS_KEY, IDENTITY_KEY, writtenValue, type AgentStore, type RecordKind, type StoreWrite } from './store.js';

type Tables = Record<RecordKind, Map<string | number, unknown>>;

let counter = 0;

/**
 * A process-local store (tests, short-lived agents, Node services that persist elsewhere).
 * Values are deep copies in and out, so neither side can change or zero the other's bytes.
 */
export class MemoryAgentStore implements AgentStore {
  readonly lockScope: string;
  #tables: Tables = emptyTables();
  #closed = false;
  #tail: Promise<unknown> = Promise.resolve();

  constructor(options: { lockScope?: string } = {}) {
    counter += 1;
    this.lockScope = options.lockScope ?? `memory-${counter}-${Math.random().toString(36).slice(2)}`;
  }

  async getIdentity(): Promise<IdentityRecord | null> {
    return this.#read<IdentityRecord>('identity', IDENTITY_KEY);
  }

  async getSignedPreKeys(): Promise<SignedPreKeyRecord[]> {
    this.#assertOpen();
    return [...this.#tables.signedPreKey.values()].map((v) => structuredClone(v as SignedPreKeyRecord)).sort((a, b) => a.keyId - b.keyId);
  }

  async getOneTimePreKey(keyId: number): Promise<OneTimePreKeyRecord | null> {
    return this.#read<OneTimePreKeyRecord>('oneTimePreKey', keyId);
  }

  async listOneTimePreKeyIds(): Promise<number[]> {
    this.#assertOpen();
    return [...this.#tables.oneTimePreKey.keys()].map(Number).sort((a, b) => a - b);
  }

  async getCounters(): Promise<PreKeyCounters> {
    return this.#read<PreKeyCounters>('meta', COUNTERS_KEY) ?? { ...INITIAL_COUNTERS };
  }

  async getSession(peerDid: string): Promise<SessionRecord | null> {
    return this.#read<SessionRecord>('session', peerDid);
  }

  async listSessions(): Promise<string[]> {
    this.#assertOpen();
    return [...this.#tables.session.keys()].map(String).sort();
  }

  async write(batch: readonly StoreWrite[]): Promise<void> {
    this.#assertOpen();
    const checked = checkBatch(batch);
    // Batches apply one after another: a batch stages on the tables as the previous one left them.
    const run = this.#tail.then(() => this.#write(checked));
    this.#tail = run.catch(() => undefined);
    try {
      await run;
    } finally {
      for (const w of checked) if ('record' in w) wipeRecord(w.record);
    }
  }

  async #write(checked: StoreWrite[]): Promise<void> {
    // Stage on shallow copies of the tables and swap them in only once every write has applied.
    const staged = Object.fromEntries(Object.entries(this.#tables).map(([k, m]) => [k, new Map(m)])) as Tables;
    const dropped: unknown[] = [];
    await applyBatch(
      {
        exists: async (kind, key) => staged[kind].has(key),
        sessionRevision: async (peer) => (staged.session.get(peer) as SessionRecord | undefined)?.revision ?? null,
        counters: async () => (staged.meta.get(COUNTERS_KEY) as PreKeyCounters | undefined) ?? INITIAL_COUNTERS,
        put: async (kind, key, w) => {
          dropped.push(staged[kind].get(key));
          staged[kind].set(key, structuredClone(writtenValue(w)));
        },
        delete: async (kind, key) => {
          dropped.push(staged[kind].get(key));
          staged[kind].delete(key);
        },
      },
      checked,
    );
    this.#assertOpen();
    this.#tables = staged;
    // Only now are replaced and deleted keys unreachable from the store: zero them.
    for (const v of dropped) wipeRecord(v);
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  #read<T>(kind: RecordKind, key: string | number): T | null {
    this.#assertOpen();
    const v = this.#tables[kind].get(key);
    return v === undefined ? null : structuredClone(v as T);
  }

  #assertOpen(): void {
    if (this.#closed) throw new StoreClosedError();
  }
}

function emptyTables(): Tables {
  return { identity: new Map(), signedPreKey: new Map(), oneTimePreKey: new Map(), meta: new Map(), session: new Map() };
}
