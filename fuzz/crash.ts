/**
 * Crash safety of the session layer: a scripted conversation between three agents runs again and
 * again, and in run k the k-th store write of the whole conversation fails, in one of two ways:
 *
 * - `before`: the write throws and changes nothing (a full disk, an aborted transaction);
 * - `after`: the write commits, then the agent dies before it hears so (a crash right after the
 *   commit).
 *
 * The agent whose write failed then "crashes": its SessionManager is dropped and a new one opens on
 * the same storage, and the application retries what it was doing, as an agent would: unsent
 * messages are sent again, frames not acknowledged are delivered again by the relay. At the end:
 *
 * - no message is delivered to the application twice;
 * - with `before`, every message the application sent arrives; with `after`, at most the one message
 *   whose receive was the failed write is lost (its plaintext was never handed out; the redelivery
 *   is refused as a replay) — the documented price of never keeping a used message key;
 * - no message key is used twice: no two messages that left an agent share (ratchet key, n);
 * - no one-time pre-key backs two sessions, and each is handed out by the registry once;
 * - every session still works both ways.
 */
import { encodeEstablishment } from '../src/channel/establishment.js';
import { fromUtf8, toHex, utf8 } from '../src/encoding.js';
import { AgentMeshError } from '../src/errors.js';
import { AgentIdentity } from '../src/identity/agent-identity.js';
import { SessionManager } from '../src/session/session-manager.js';
import { StorageError } from '../src/storage/errors.js';
import type { AgentStore, StoreWrite } from '../src/storage/store.js';
import { EncryptedMessage } from '../src/wire/encrypted-message.js';
import type { PreKeyBundle } from '../src/x3dh/bundle.js';
import type { Bytes } from '../src/encoding.js';

export type CrashMode = 'before' | 'after';

/** Where an agent's data lives across crashes: `open` gives a fresh handle on the same data. */
export interface StoreKind {
  readonly name: string;
  /** A new, empty storage location. */
  create(label: string): Promise<{ open(): Promise<AgentStore>; dispose(): Promise<void> }>;
}

/** Counts every write of a conversation; the `failAt`-th one fails as `mode` says. */
class WriteClock {
  count = 0;
  failed: { at: number; agent: string; ops: string[]; during: string } | null = null;
  constructor(
    readonly failAt: number | null,
    readonly mode: CrashMode,
  ) {}
}

class InjectedCrash extends StorageError {
  constructor(at: number) {
    super(`injected crash at write ${at}`);
  }
}

/** An AgentStore whose writes go through the conversation's clock. */
function crashing(inner: AgentStore, clock: WriteClock, agent: () => { name: string; doing: string }): AgentStore {
  return {
    get lockScope() {
      return inner.lockScope;
    },
    getIdentity: () => inner.getIdentity(),
    getSignedPreKeys: () => inner.getSignedPreKeys(),
    getOneTimePreKey: (id) => inner.getOneTimePreKey(id),
    listOneTimePreKeyIds: () => inner.listOneTimePreKeyIds(),
    getCounters: () => inner.getCounters(),
    getSession: (peer) => inner.getSession(peer),
    listSessions: () => inner.listSessions(),
    close: () => inner.close(),
    async write(batch: readonly StoreWrite[]) {
      clock.count += 1;
      if (clock.count !== clock.failAt) return inner.write(batch);
      const who = agent();
      clock.failed = { at: clock.count, agent: who.name, ops: batch.map((w) => w.op), during: who.doing };
      if (clock.mode === 'after') await inner.write(batch);
      throw new InjectedCrash(clock.count);
    },
  };
}

interface Frame {
  readonly id: number;
  readonly from: string;
  readonly to: string;
  readonly text: string;
  readonly wire: Uint8Array;
  readonly x3dh: unknown;
}

class Agent {
  manager: SessionManager | null = null;
  store: AgentStore | null = null;
  doing = 'idle';
  crashes = 0;
  readonly delivered: string[] = [];
  readonly rejected: { text: string; error: string }[] = [];
  /** Every message that left this agent: `${peer}|${dh hex}:${n}`. */
  readonly headers = new Set<string>();
  readonly did: string;
  readonly publicKey: Uint8Array;

  constructor(
    readonly name: string,
    private readonly identity: AgentIdentity,
    private readonly storage: { open(): Promise<AgentStore> },
    private readonly clock: WriteClock,
  ) {
    this.did = identity.did;
    this.publicKey = identity.publicKey;
  }

  async sessions(): Promise<SessionManager> {
    if (this.manager) return this.manager;
    this.store = crashing(await this.storage.open(), this.clock, () => ({ name: this.name, doing: this.doing }));
    // First start saves the identity; later starts load it (and check it is the same one).
    this.manager = await SessionManager.open({ store: this.store, identity: await AgentIdentity.fromSeed(this.seed) });
    return this.manager;
  }

  get seed(): Uint8Array {
    return this.identity.secretKey.subarray(0, 32);
  }

  /** The process dies: everything in memory is gone; storage stays. */
  async crash(): Promise<void> {
    this.crashes += 1;
    this.manager?.close();
    this.manager = null;
    await this.store?.close();
    this.store = null;
  }

  /** Runs an application step; a storage failure crashes the agent and the step is tried again. */
  async step<T>(doing: string, task: (s: SessionManager) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      this.doing = doing;
      try {
        return await task(await this.sessions());
      } catch (error) {
        if (!(error instanceof StorageError) || attempt >= 3) throw error;
        await this.crash();
      } finally {
        this.doing = 'idle';
      }
    }
  }
}

/** The registry: published bundles, each one-time pre-key handed out once. */
class Registry {
  readonly #bundles = new Map<string, { base: Omit<PreKeyBundle, 'oneTimePreKey' | 'oneTimePreKeyId'>; otks: { id: number; key: Bytes }[]; published: Set<number> }>();
  readonly handedOut = new Map<string, number[]>();

  async publish(agent: Agent): Promise<void> {
    const s = await agent.sessions();
    const bundle = await s.preKeys.getPublicBundle();
    const entry = this.#bundles.get(agent.did) ?? { base: bundle, otks: [], published: new Set<number>() };
    entry.base = bundle;
    for (const id of await s.preKeys.oneTimePreKeyIds()) {
      if (entry.published.has(id)) continue;
      entry.published.add(id);
      entry.otks.push({ id, key: (await s.preKeys.getPublicBundle(id)).oneTimePreKey! });
    }
    this.#bundles.set(agent.did, entry);
  }

  claim(did: string): PreKeyBundle {
    const entry = this.#bundles.get(did)!;
    const otk = entry.otks.shift();
    if (otk) this.handedOut.set(did, [...(this.handedOut.get(did) ?? []), otk.id]);
    return { ...entry.base, oneTimePreKey: otk?.key ?? null, oneTimePreKeyId: otk?.id ?? null };
  }
}

export interface CrashRunResult {
  writes: number;
  failed: WriteClock['failed'];
  crashes: number;
  sent: number;
  delivered: number;
  lost: string[];
}

/** One run of the conversation; `failAt` null counts the writes of a clean run. Throws on a broken property. */
export async function runConversation(kind: StoreKind, failAt: number | null, mode: CrashMode, seedBase = 1): Promise<CrashRunResult> {
  const clock = new WriteClock(failAt, mode);
  const storages: { dispose(): Promise<void> }[] = [];
  const make = async (name: string, n: number) => {
    const storage = await kind.create(`${name}-${failAt ?? 'clean'}-${mode}`);
    storages.push(storage);
    const seed = new Uint8Array(32).fill(seedBase * 16 + n);
    return new Agent(name, await AgentIdentity.fromSeed(seed), storage, clock);
  };
  const alice = await make('alice', 1);
  const bob = await make('bob', 2);
  const carol = await make('carol', 3);
  const agents = [alice, bob, carol];
  const byDid = new Map(agents.map((a) => [a.did, a]));
  const registry = new Registry();
  const relay: Frame[] = [];
  const sent: Frame[] = [];
  const establishments = new Set<string>();
  const usedOneTimeKeys = new Set<string>();
  let nextId = 0;

  try {
    for (const a of agents) await a.step('open', async () => undefined);

    const ensurePreKeys = async (a: Agent, want: number) => {
      await a.step('rotate', async (s) => {
        if (!(await s.store.getSignedPreKeys()).some((k) => k.retiredAt === null)) await s.preKeys.rotateSignedPreKey();
      });
      await a.step('top up', async (s) => {
        const have = (await s.preKeys.oneTimePreKeyIds()).length;
        if (have < want) await s.preKeys.generateOneTimePreKeys(want - have);
      });
      await registry.publish(a);
    };

    const openSession = async (a: Agent, peer: Agent) => {
      // A bundle claimed before a crash is lost with it: the retry claims another.
      await a.step('initiate', async (s) => {
        if (await s.hasSession(peer.did)) return;
        await s.initiate(peer.did, registry.claim(peer.did), { associatedData: utf8(`${a.did}|${peer.did}`) });
      });
    };

    const send = async (a: Agent, peer: Agent, text: string) => {
      const frame = await a.step(`send ${text}`, async (s) => {
        const info = await s.getSession(peer.did);
        const message = await s.send(peer.did, utf8(text));
        return {
          id: nextId++,
          from: a.did,
          to: peer.did,
          text,
          wire: message.serialize(),
          x3dh: info?.establishment ? encodeEstablishment(info.establishment) : null,
        };
      });
      const h = EncryptedMessage.deserialize(frame.wire).header;
      const key = `${peer.did}|${toHex(h.dhPublicKey)}:${h.messageNumber}`;
      if (a.headers.has(key)) throw new Error(`${a.name} used message key ${key} twice`);
      a.headers.add(key);
      relay.push(frame);
      sent.push(frame);
    };

    /** The relay delivers a frame until the recipient acknowledges it (handled, or refused for good). */
    const deliver = async (frame: Frame) => {
      const to = byDid.get(frame.to)!;
      const from = byDid.get(frame.from)!;
      for (let attempt = 0; ; attempt++) {
        if (attempt > 5) throw new Error(`frame ${frame.text} could not be delivered`);
        to.doing = `receive ${frame.text}`;
        try {
          const s = await to.sessions();
          const plaintext = frame.x3dh
            ? await s.accept(from.did, frame.x3dh as never, {
                firstMessage: frame.wire,
                peerIdentityKeyEd: from.publicKey,
                associatedData: utf8(`${from.did}|${to.did}`),
              })
            : await s.receive(from.did, frame.wire);
          if (plaintext === null) throw new Error('accept returned no plaintext');
          if (frame.x3dh) {
            const opk = (frame.x3dh as { used_opk_id: number | null }).used_opk_id;
            const key = `${to.did}|${from.did}|${JSON.stringify(frame.x3dh)}`;
            if (opk !== null && !establishments.has(key)) {
              // A new establishment: its one-time pre-key must not back any other session.
              const mark = `${to.did}|${opk}`;
              if (usedOneTimeKeys.has(mark)) throw new Error(`one-time pre-key ${opk} of ${to.name} backs two sessions`);
              usedOneTimeKeys.add(mark);
            }
            establishments.add(key);
          }
          if (fromUtf8(plaintext) !== frame.text) throw new Error(`${frame.text} decrypted to ${fromUtf8(plaintext)}`);
          to.delivered.push(frame.text);
          break;
        } catch (error) {
          if (error instanceof StorageError) {
            await to.crash();
            continue;
          }
          if (error instanceof AgentMeshError) {
            // Can never be delivered (a replay after a crash after the commit): acknowledged and dropped.
            to.rejected.push({ text: frame.text, error: error.constructor.name });
            break;
          }
          throw error;
        } finally {
          to.doing = 'idle';
        }
      }
      relay.splice(relay.indexOf(frame), 1);
    };
    const deliverAll = async (order: (f: Frame[]) => Frame[] = (f) => f) => {
      for (const f of order([...relay])) await deliver(f);
    };

    // The script.
    await ensurePreKeys(bob, 3);
    await ensurePreKeys(carol, 2);
    await openSession(alice, bob);
    for (const t of ['a1', 'a2', 'a3']) await send(alice, bob, t);
    await deliverAll((f) => [f[1]!, f[0]!, f[2]!]);
    await send(bob, alice, 'b1');
    await send(bob, alice, 'b2');
    await deliverAll((f) => [...f].reverse());
    await bob.step('rotate again', (s) => s.preKeys.rotateSignedPreKey().then(() => undefined));
    await ensurePreKeys(bob, 3);
    await send(alice, bob, 'a4');
    await openSession(carol, bob);
    await send(carol, bob, 'c1');
    await send(alice, bob, 'a5');
    await deliverAll((f) => [...f].reverse());
    await send(bob, carol, 'b3');
    await send(bob, alice, 'b4');
    await deliverAll();
    await openSession(alice, carol);
    await send(alice, carol, 'a6');
    await deliverAll();
    // Every session still works both ways.
    for (const [x, y] of [[alice, bob], [bob, alice], [carol, bob], [bob, carol], [alice, carol], [carol, alice]] as const) {
      await send(x, y, `final ${x.name}→${y.name}`);
    }
    await deliverAll();

    // The properties.
    const delivered = agents.flatMap((a) => a.delivered);
    const seen = new Set<string>();
    for (const t of delivered) {
      if (seen.has(t)) throw new Error(`${t} was delivered twice`);
      seen.add(t);
    }
    const lost = sent.map((f) => f.text).filter((t) => !seen.has(t));
    if (mode === 'before' && lost.length > 0) throw new Error(`lost ${lost.join(', ')} although no write committed partly`);
    if (lost.length > 1) throw new Error(`lost ${lost.join(', ')}: more than the one message whose receive crashed after its commit`);
    if (lost.length === 1) {
      const f = clock.failed;
      if (!f || f.during !== `receive ${lost[0]}`) throw new Error(`lost ${lost[0]} although the crash (${JSON.stringify(f)}) was not in its receive`);
      if (!f.ops.includes('putSession')) throw new Error(`lost ${lost[0]} although the failed write stored no session`);
    }
    for (const t of lost) if (!agents.some((a) => a.rejected.some((r) => r.text === t))) throw new Error(`${t} vanished without being reported`);
    for (const [did, ids] of registry.handedOut) {
      if (new Set(ids).size !== ids.length) throw new Error(`the registry handed out a one-time pre-key of ${did} twice`);
    }
    if (failAt !== null && clock.failed === null) throw new Error(`write ${failAt} never happened`);
    return {
      writes: clock.count,
      failed: clock.failed,
      crashes: agents.reduce((n, a) => n + a.crashes, 0),
      sent: sent.length,
      delivered: delivered.length,
      lost,
    };
  } finally {
    for (const a of agents) await a.crash().catch(() => undefined);
    for (const s of storages) await s.dispose().catch(() => undefined);
  }
}

export interface CrashSweepResult {
  store: string;
  writes: number;
  runs: number;
  lostAfterCommit: number;
  failures: { failAt: number; mode: CrashMode; message: string }[];
}

/** Runs the conversation once per write point and mode: every write of the conversation fails once. */
export async function crashSweep(kind: StoreKind, options: { modes?: CrashMode[]; seed?: number } = {}): Promise<CrashSweepResult> {
  const clean = await runConversation(kind, null, 'before', options.seed);
  const failures: CrashSweepResult['failures'] = [];
  let runs = 0;
  let lostAfterCommit = 0;
  for (const mode of options.modes ?? ['before', 'after']) {
    for (let k = 1; k <= clean.writes; k++) {
      runs += 1;
      try {
        const r = await runConversation(kind, k, mode, options.seed);
        lostAfterCommit += r.lost.length;
      } catch (error) {
        failures.push({ failAt: k, mode, message: (error as Error)?.stack ?? String(error) });
      }
    }
  }
  return { store: kind.name, writes: clean.writes, runs, lostAfterCommit, failures };
}

/** Process memory as storage: `open` hands out a new handle on the same records (closing a handle keeps them). */
export async function memoryKind(): Promise<StoreKind> {
  const { MemoryAgentStore } = await import('../src/storage/memory.js');
  return {
    name: 'MemoryAgentStore',
    async create() {
      const inner = new MemoryAgentStore();
      return {
        open: async () => ({
          lockScope: inner.lockScope,
          getIdentity: () => inner.getIdentity(),
          getSignedPreKeys: () => inner.getSignedPreKeys(),
          getOneTimePreKey: (id: number) => inner.getOneTimePreKey(id),
          listOneTimePreKeyIds: () => inner.listOneTimePreKeyIds(),
          getCounters: () => inner.getCounters(),
          getSession: (peer: string) => inner.getSession(peer),
          listSessions: () => inner.listSessions(),
          write: (batch: readonly StoreWrite[]) => inner.write(batch),
          close: async () => undefined,
        }),
        dispose: () => inner.close(),
      };
    },
  };
}

/** IndexedDB (the global one: a browser's, or fake-indexeddb in Node): `open` opens the database again. */
export async function indexedDbKind(): Promise<StoreKind> {
  const { IndexedDBAgentStore } = await import('../src/storage/indexeddb.js');
  let n = 0;
  return {
    name: 'IndexedDBAgentStore',
    async create(label: string) {
      const name = `crash-${label}-${++n}-${Math.random().toString(36).slice(2, 8)}`;
      return {
        open: () => IndexedDBAgentStore.open({ name }),
        dispose: async () => {
          await new Promise<void>((resolve) => {
            const req = globalThis.indexedDB.deleteDatabase(name);
            req.onsuccess = req.onerror = req.onblocked = () => resolve();
          });
        },
      };
    },
  };
}
