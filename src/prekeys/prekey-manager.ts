import { getDefaultCryptoProvider, type CryptoProvider } from '../crypto/index.js';
import { copyBytes, type Bytes } from '../encoding.js';
import { PreKeyNotFoundError } from '../errors.js';
import type { AgentIdentity } from '../identity/agent-identity.js';
import type { PreKeyUpload } from '../net/prekey-upload.js';
import { defaultLocks, type SessionLocks } from '../storage/locks.js';
import type { OneTimePreKeyRecord, SignedPreKeyRecord } from '../storage/records.js';
import type { AgentStore, StoreWrite } from '../storage/store.js';
import type { PreKeyBundle } from '../x3dh/bundle.js';
import { checkOneTimeCount } from '../x3dh/key-manager.js';
import { PreKeysClosedError } from './errors.js';
import { SIGNED_PRE_KEY_RETENTION_MS } from './policy.js';
import { candidateSignedPreKeys, liveSignedPreKeys } from './records.js';
import { checkUpkeepPolicy, runUpkeep, type PublicOneTimePreKey, type UpkeepPolicy, type UpkeepRegistry, type UpkeepResult } from './upkeep.js';

/**
 * An agent's pre-keys in its store: signed pre-keys (current and retained after rotation) and
 * one-time pre-keys, read and written record by record, never cached. The session layer asks it for
 * the keys that answer an establishment (`responderKeys`) and consumes the one-time key in the
 * session's own write (vodozemac `olm/account/one_time_keys.rs`; libsignal `session_management.rs`).
 */

export interface PreKeyManagerOptions {
  store: AgentStore;
  /** Signs new signed pre-keys. Not owned: its owner destroys it (after closing this manager). */
  identity: AgentIdentity;
  crypto?: CryptoProvider;
  /** Default: Web Locks where the runtime has them, else a mutex shared by this JS realm. */
  locks?: SessionLocks;
  /** How long a rotated-out signed pre-key still answers establishments (default `SIGNED_PRE_KEY_RETENTION_MS`, 14 days). */
  signedPreKeyRetentionMs?: number;
  /** Clock in ms since the epoch (default `Date.now`). */
  now?: () => number;
}

/** The stored keys that may answer one establishment. Holds private keys: `wipe()` when done. */
export interface ResponderPreKeys {
  /** The signed pre-key the establishment names, or every live one (current first) when it names none. */
  readonly signedPreKeys: readonly SignedPreKeyRecord[];
  readonly oneTimePreKey: OneTimePreKeyRecord | null;
  /**
   * The write that consumes the one-time pre-key (none without one). It belongs in the same batch
   * as the session it opens, so the key is gone exactly when the session is stored.
   */
  readonly consume: readonly StoreWrite[];
  /** Zeroes every private key read for this establishment. */
  wipe(): void;
}

export class PreKeyManager {
  readonly store: AgentStore;
  /** X25519 form of the identity key (what bundles carry as `identityKey`). */
  readonly identityKey: Bytes;
  readonly identityKeyEd: Bytes;
  readonly #identity: AgentIdentity;
  readonly #crypto: CryptoProvider;
  readonly #locks: SessionLocks;
  readonly #now: () => number;
  readonly #retentionMs: number;
  #closed = false;

  constructor(options: PreKeyManagerOptions) {
    this.store = options.store;
    this.#identity = options.identity;
    this.#crypto = options.crypto ?? getDefaultCryptoProvider();
    this.identityKeyEd = copyBytes(options.identity.publicKey);
    this.identityKey = this.#crypto.ed25519ToX25519Public(this.identityKeyEd);
    this.#locks = options.locks ?? defaultLocks();
    this.#now = options.now ?? Date.now;
    this.#retentionMs = options.signedPreKeyRetentionMs ?? SIGNED_PRE_KEY_RETENTION_MS;
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  /** Makes a new signed pre-key current; the previous one is retained, expired ones are deleted. Returns the new bundle. */
  async rotateSignedPreKey(): Promise<PreKeyBundle> {
    return this.#locked(async () => {
      const stored = await this.store.getSignedPreKeys();
      const counters = await this.store.getCounters();
      const batch: StoreWrite[] = [];
      let fresh: SignedPreKeyRecord | null = null;
      try {
        const now = this.#now();
        const keyPair = await this.#crypto.x25519GenerateKeyPair();
        fresh = {
          // Past every stored id as well as the counter, so that an id is never handed out twice.
          keyId: Math.max(counters.nextSignedPreKeyId, ...stored.map((k) => k.keyId + 1)),
          publicKey: keyPair.publicKey,
          privateKey: keyPair.privateKey,
          signature: await this.#identity.sign(keyPair.publicKey),
          createdAt: now,
          retiredAt: null,
        };
        batch.push({ op: 'putSignedPreKey', record: fresh, ifAbsent: true });
        const kept = new Set(liveSignedPreKeys(stored, now, this.#retentionMs).map((k) => k.keyId));
        for (const k of stored) {
          if (k.retiredAt === null) batch.push({ op: 'putSignedPreKey', record: { ...k, retiredAt: now } });
          else if (!kept.has(k.keyId)) batch.push({ op: 'deleteSignedPreKey', keyId: k.keyId });
        }
        batch.push({
          op: 'setCounters',
          counters: { nextSignedPreKeyId: fresh.keyId + 1, nextOneTimePreKeyId: counters.nextOneTimePreKeyId },
          expected: counters,
        });
        await this.store.write(batch);
        return this.#bundle(fresh, null);
      } finally {
        this.#wipe([...stored, fresh]);
      }
    });
  }

  /** Generates and stores `count` one-time pre-keys; returns their ids. */
  async generateOneTimePreKeys(count = 10): Promise<number[]> {
    return (await this.#addOneTimePreKeys(count)).map((k) => k.keyId);
  }

  async oneTimePreKeyIds(): Promise<number[]> {
    this.#assertOpen();
    return this.store.listOneTimePreKeyIds();
  }

  /** The public bundle from the stored current signed pre-key (and one-time pre-key `oneTimePreKeyId`, when given). */
  async getPublicBundle(oneTimePreKeyId?: number | null): Promise<PreKeyBundle> {
    this.#assertOpen();
    const signed = await this.store.getSignedPreKeys();
    let otk: OneTimePreKeyRecord | null = null;
    try {
      const current = signed.find((k) => k.retiredAt === null);
      if (!current) throw new PreKeyNotFoundError('no signed pre-key yet: call rotateSignedPreKey() first');
      if (oneTimePreKeyId !== undefined && oneTimePreKeyId !== null) {
        otk = await this.store.getOneTimePreKey(oneTimePreKeyId);
        if (!otk) throw new PreKeyNotFoundError(`one-time pre-key ${oneTimePreKeyId} not found or already consumed`);
      }
      return this.#bundle(current, otk);
    } finally {
      this.#wipe([...signed, otk]);
    }
  }

  /**
   * The stored keys that may answer an establishment naming `signedPreKeyId` (null: the reference's
   * form, which names none) and `oneTimePreKeyId`: at most `maxCandidates` signed pre-keys, the
   * one-time pre-key, and the write that consumes it. Throws `PreKeyNotFoundError` when a key it
   * names is gone.
   */
  async responderKeys(named: { readonly signedPreKeyId: number | null; readonly oneTimePreKeyId: number | null }, maxCandidates: number): Promise<ResponderPreKeys> {
    this.#assertOpen();
    const signed = await this.store.getSignedPreKeys();
    let otk: OneTimePreKeyRecord | null = null;
    const wipe = () => this.#wipe([...signed, otk]);
    try {
      if (named.oneTimePreKeyId !== null) {
        otk = await this.store.getOneTimePreKey(named.oneTimePreKeyId);
        if (!otk) throw new PreKeyNotFoundError(`one-time pre-key ${named.oneTimePreKeyId} not found or already consumed`);
      }
      const live = liveSignedPreKeys(signed, this.#now(), this.#retentionMs);
      return {
        signedPreKeys: candidateSignedPreKeys(live, named.signedPreKeyId, maxCandidates),
        oneTimePreKey: otk,
        consume: otk ? [{ op: 'consumeOneTimePreKey', keyId: otk.keyId }] : [],
        wipe,
      };
    } catch (error) {
      wipe();
      throw error;
    }
  }

  /** One upkeep run against the registry (see `upkeep.ts`): rotates when due, tops up, uploads what is new. */
  async upkeep(registry: UpkeepRegistry, policy?: UpkeepPolicy): Promise<UpkeepResult> {
    this.#assertOpen();
    const holder = {
      signedPreKeyCreatedAt: () => this.#currentCreatedAt(),
      rotateSignedPreKey: () => this.rotateSignedPreKey(),
      addOneTimePreKeys: (count: number) => this.#addOneTimePreKeys(count),
      upload: (oneTime: readonly PublicOneTimePreKey[]) => this.#upload(oneTime),
    };
    return runUpkeep(holder, registry, this.#now, checkUpkeepPolicy(policy));
  }

  /** Stops every call; the store stays open and the identity is its owner's to destroy. */
  close(): void {
    this.#closed = true;
  }

  async #addOneTimePreKeys(count: number): Promise<PublicOneTimePreKey[]> {
    checkOneTimeCount(count);
    return this.#locked(async () => {
      const counters = await this.store.getCounters();
      const records: OneTimePreKeyRecord[] = [];
      try {
        for (let i = 0; i < count; i++) {
          const { publicKey, privateKey } = await this.#crypto.x25519GenerateKeyPair();
          records.push({ keyId: counters.nextOneTimePreKeyId + i, publicKey, privateKey });
        }
        const batch: StoreWrite[] = records.map((record) => ({ op: 'addOneTimePreKey', record }));
        batch.push({
          op: 'setCounters',
          counters: { nextSignedPreKeyId: counters.nextSignedPreKeyId, nextOneTimePreKeyId: counters.nextOneTimePreKeyId + count },
          expected: counters,
        });
        await this.store.write(batch);
        return records.map((k) => ({ keyId: k.keyId, publicKey: copyBytes(k.publicKey) }));
      } finally {
        this.#wipe(records);
      }
    });
  }

  async #currentCreatedAt(): Promise<number | null> {
    const signed = await this.store.getSignedPreKeys();
    const current = signed.find((k) => k.retiredAt === null);
    this.#wipe(signed);
    return current ? current.createdAt : null;
  }

  async #upload(oneTimePreKeys: readonly PublicOneTimePreKey[]): Promise<PreKeyUpload> {
    const bundle = await this.getPublicBundle();
    return {
      identityKey: bundle.identityKey,
      identityKeyEd: bundle.identityKeyEd,
      signedPreKey: { keyId: bundle.signedPreKeyId, publicKey: bundle.signedPreKey, signature: bundle.signedPreKeySignature },
      oneTimePreKeys,
    };
  }

  /** Zeroes private keys read or made, through the provider: it also drops what its backend imported. */
  #wipe(records: readonly ({ readonly privateKey: Uint8Array } | null)[]): void {
    this.#crypto.zeroize(...records.map((r) => r?.privateKey));
  }

  #bundle(spk: SignedPreKeyRecord, otk: OneTimePreKeyRecord | null): PreKeyBundle {
    return {
      identityKey: copyBytes(this.identityKey),
      identityKeyEd: copyBytes(this.identityKeyEd),
      signedPreKey: copyBytes(spk.publicKey),
      signedPreKeySignature: copyBytes(spk.signature),
      signedPreKeyId: spk.keyId,
      oneTimePreKey: otk ? copyBytes(otk.publicKey) : null,
      oneTimePreKeyId: otk ? otk.keyId : null,
    };
  }

  // The lock name predates this class (it was the session manager's): keep it, so both sides of an upgrade exclude each other.
  #locked<T>(task: () => Promise<T>): Promise<T> {
    return this.#locks.run(`agentmesh:${this.store.lockScope}:prekeys`, async () => {
      this.#assertOpen();
      return task();
    });
  }

  #assertOpen(): void {
    if (this.#closed) throw new PreKeysClosedError();
  }
}
