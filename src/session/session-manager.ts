import { decodeEstablishment, type ChannelEstablishment, type EstablishmentJson } from '../channel/establishment.js';
import { SecureChannel } from '../channel/secure-channel.js';
import { getDefaultCryptoProvider, type CryptoProvider } from '../crypto/index.js';
import { copyBytes, fromHex, toHex, type Bytes } from '../encoding.js';
import type { RatchetStateDict } from '../ratchet/state.js';
import { AuthenticationError, InvalidKeyError, PreKeyNotFoundError, RatchetStateError } from '../errors.js';
import { AgentIdentity } from '../identity/agent-identity.js';
import { checkDidKey, parseDid } from '../identity/did.js';
import { CorruptRecordError, StoreConflictError } from '../storage/errors.js';
import { defaultLocks, type SessionLocks } from '../storage/locks.js';
import { wipeRecord, type JsonValue, type OneTimePreKeyRecord, type SessionRecord, type SignedPreKeyRecord } from '../storage/records.js';
import type { AgentStore, StoreWrite } from '../storage/store.js';
import { EncryptedMessage } from '../wire/encrypted-message.js';
import { decodeBundle, type BundleJson, type PreKeyBundle } from '../x3dh/bundle.js';
import { X3DHKeyManager, type PreKeySetJson } from '../x3dh/key-manager.js';
import { SessionExistsError, IdentityMismatchError, IdentityNotFoundError, SessionManagerClosedError, SessionNotFoundError } from './errors.js';
import { liveSignedPreKeys, oneTimeFromJson, oneTimeToJson, preKeySet, signedFromJson, signedToJson } from './prekey-records.js';
import {
  decodeChannels,
  decodeInboundChannel,
  decodeMetadata,
  encodeChannels,
  encodeMetadata,
  MAX_ASSOCIATED_DATA_BYTES,
  MAX_CANDIDATE_CHANNELS,
  updateChannels,
  restoreChannel,
  type SessionMetadata,
  type SessionRole,
} from './session-record.js';

const DAY_MS = 24 * 60 * 60 * 1000;
const EMPTY = new Uint8Array(0);

export interface SessionManagerOptions {
  store: AgentStore;
  /** Saved to the store on first use; afterwards it must be the stored identity. Omit to use the stored one. */
  identity?: AgentIdentity;
  crypto?: CryptoProvider;
  /** Default: Web Locks where the runtime has them, else a mutex shared by this JS realm. */
  locks?: SessionLocks;
  /** Ratchet limits for sessions this manager creates (stored in each session's state). */
  maxSkip?: number;
  maxSkippedKeys?: number;
  /** How long a rotated-out signed pre-key still answers establishments (default 14 days). */
  signedPreKeyRetentionMs?: number;
  /** Clock in ms since the epoch (default `Date.now`). */
  now?: () => number;
}

export interface InitiateOptions {
  /** Application associated data, bound into every message of the session. */
  associatedData?: Uint8Array;
  /** The trust result to keep with the session (opaque JSON). */
  trust?: JsonValue;
  /** Replace an existing session with this peer (default: refuse with `SessionExistsError`). */
  replace?: boolean;
}

export interface AcceptOptions extends InitiateOptions {
  /**
   * The initiator's first message. When given, the session is stored only once it decrypts (which
   * proves the initiator holds its identity key), and an existing session is then replaced.
   */
  firstMessage?: EncryptedMessage | Uint8Array;
  /** The initiator's Ed25519 identity key, when known: checked against the DID and the establishment. */
  peerIdentityKeyEd?: Uint8Array;
}

/** A message and, until the peer has answered, the establishment that opens its session. */
export interface OutgoingMessage {
  readonly message: EncryptedMessage;
  readonly establishment: ChannelEstablishment | null;
}

/** What `getSession` tells about a stored session (no key material). */
export interface SessionInfo {
  readonly peerDid: string;
  readonly role: SessionRole;
  /** Initiator only, until the peer's first reply: send it along with each message so the peer can accept. */
  readonly establishment: ChannelEstablishment | null;
  readonly peerIdentityKey: Bytes;
  readonly peerIdentityKeyEd: Bytes | null;
  readonly trust: JsonValue;
  /** Messages sent plus messages received. */
  readonly messageCount: number;
  readonly revision: number;
  readonly createdAt: number;
  readonly updatedAt: number;
  /** The ratchet's public counters and keys (for diagnostics and UIs; nothing secret). */
  readonly ratchet: RatchetInfo;
}

/** Public view of a session's Double Ratchet: counters and the current DH ratchet keys. */
export interface RatchetInfo {
  /** Messages sent in the current sending chain (the next one's `n`). */
  readonly sendCount: number;
  /** Messages received in the current receiving chain. */
  readonly receiveCount: number;
  /** Length of the previous sending chain (the `pn` of the next message). */
  readonly previousSendCount: number;
  /** Our current ratchet public key; it changes at every DH step. */
  readonly dhPublicKey: Bytes;
  /** The peer's current ratchet public key (null until the peer's first message, for initiators). */
  readonly remoteDhPublicKey: Bytes | null;
  /** Message keys kept for messages not yet received. */
  readonly skippedKeys: number;
}

/**
 * Sessions that survive restarts. Every operation on a session runs under that session's lock and
 * does: load → encrypt/decrypt on a fresh copy → persist → only then return. If persisting fails,
 * nothing is returned, the stored state is what it was, and the call can be retried.
 */
export class SessionManager {
  readonly store: AgentStore;
  readonly did: string;
  readonly identityPublicKey: Bytes;
  readonly #identity: AgentIdentity;
  /** Identity keys only: enough to initiate. Pre-keys are loaded per use, never cached. */
  readonly #keyManager: X3DHKeyManager;
  readonly #crypto: CryptoProvider;
  readonly #locks: SessionLocks;
  readonly #now: () => number;
  readonly #retentionMs: number;
  readonly #ratchetLimits: { maxSkip?: number; maxSkippedKeys?: number };
  #closed = false;

  private constructor(args: {
    options: SessionManagerOptions;
    identity: AgentIdentity;
    keyManager: X3DHKeyManager;
    crypto: CryptoProvider;
  }) {
    const { options } = args;
    this.store = options.store;
    this.#identity = args.identity;
    this.did = args.identity.did;
    this.identityPublicKey = copyBytes(args.identity.publicKey);
    this.#keyManager = args.keyManager;
    this.#crypto = args.crypto;
    this.#locks = options.locks ?? defaultLocks();
    this.#now = options.now ?? Date.now;
    this.#retentionMs = options.signedPreKeyRetentionMs ?? 14 * DAY_MS;
    this.#ratchetLimits = {};
    if (options.maxSkip !== undefined) this.#ratchetLimits.maxSkip = options.maxSkip;
    if (options.maxSkippedKeys !== undefined) this.#ratchetLimits.maxSkippedKeys = options.maxSkippedKeys;
  }

  /** Loads the agent from its store (saving `options.identity` there on first use). */
  static async open(options: SessionManagerOptions): Promise<SessionManager> {
    const { store } = options;
    const crypto = options.crypto ?? getDefaultCryptoProvider();
    const now = options.now ?? Date.now;
    let stored = await store.getIdentity();
    if (!stored) {
      const given = options.identity;
      if (!given) throw new IdentityNotFoundError();
      const secret = given.secretKey;
      try {
        await store.write([
          { op: 'addIdentity', record: { did: given.did, publicKey: given.publicKey, seed: secret.subarray(0, 32), createdAt: now() } },
        ]);
      } catch (error) {
        // Another tab saved an identity first: fall through and compare with it.
        if (!(error instanceof StoreConflictError)) throw error;
      } finally {
        secret.fill(0);
      }
      stored = await store.getIdentity();
      if (!stored) throw new CorruptRecordError('stored identity vanished right after it was written');
    }
    let identity: AgentIdentity | undefined;
    try {
      const given = options.identity;
      if (given && (given.did !== stored.did || !crypto.constantTimeEqual(given.publicKey, stored.publicKey))) {
        throw new IdentityMismatchError(`the store belongs to ${stored.did}, not ${given.did}`);
      }
      identity = await AgentIdentity.fromSeed(stored.seed, { crypto });
      if (identity.did !== stored.did || !crypto.constantTimeEqual(identity.publicKey, stored.publicKey)) {
        throw new CorruptRecordError('stored identity: the seed does not produce the stored public key and DID');
      }
      const secret = identity.secretKey;
      try {
        const keyManager = await X3DHKeyManager.fromEd25519Keys(secret, identity.publicKey, { crypto });
        return new SessionManager({ options, identity, keyManager, crypto });
      } finally {
        secret.fill(0);
      }
    } catch (error) {
      identity?.wipe();
      throw error;
    } finally {
      wipeRecord(stored);
    }
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  // ── pre-keys ────────────────────────────────────────────────────────────────────────────────

  /** Makes a new signed pre-key current; the previous one is retained, expired ones are deleted. Returns the new bundle. */
  async rotateSignedPreKey(): Promise<PreKeyBundle> {
    return this.#locked('prekeys', async () => {
      const stored = await this.store.getSignedPreKeys();
      const counters = await this.store.getCounters();
      let km: X3DHKeyManager | undefined;
      const batch: StoreWrite[] = [];
      try {
        km = await this.#restoreKeyManager(preKeySet(stored.map((k) => signedToJson(k)), [], counters));
        await km.generateSignedPreKey();
        const exported = km.exportPreKeys();
        const kept = new Set<number>();
        for (const j of exported.signed_pre_keys) {
          kept.add(j.key_id);
          const before = stored.find((k) => k.keyId === j.key_id);
          if (!before) batch.push({ op: 'putSignedPreKey', record: signedFromJson(j), ifAbsent: true });
          else if (before.retiredAt !== j.retired_at) batch.push({ op: 'putSignedPreKey', record: signedFromJson(j) });
        }
        for (const k of stored) if (!kept.has(k.keyId)) batch.push({ op: 'deleteSignedPreKey', keyId: k.keyId });
        batch.push({
          op: 'setCounters',
          counters: { nextSignedPreKeyId: exported.next_signed_pre_key_id, nextOneTimePreKeyId: counters.nextOneTimePreKeyId },
          expected: counters,
        });
        await this.store.write(batch);
        return km.getPublicBundle();
      } finally {
        km?.destroy();
        for (const k of stored) wipeRecord(k);
        for (const w of batch) if ('record' in w) wipeRecord(w.record);
      }
    });
  }

  /** Generates and stores `count` one-time pre-keys; returns their ids. */
  async generateOneTimePreKeys(count = 10): Promise<number[]> {
    return this.#locked('prekeys', async () => {
      const counters = await this.store.getCounters();
      let km: X3DHKeyManager | undefined;
      const batch: StoreWrite[] = [];
      try {
        km = await this.#restoreKeyManager(preKeySet([], [], counters));
        const fresh = await km.generateOneTimePreKeys(count);
        const exported = km.exportPreKeys();
        for (const j of exported.one_time_pre_keys) batch.push({ op: 'addOneTimePreKey', record: oneTimeFromJson(j) });
        batch.push({
          op: 'setCounters',
          counters: { nextSignedPreKeyId: counters.nextSignedPreKeyId, nextOneTimePreKeyId: exported.next_one_time_pre_key_id },
          expected: counters,
        });
        await this.store.write(batch);
        return fresh.map((k) => k.keyId);
      } finally {
        km?.destroy();
        for (const w of batch) if ('record' in w) wipeRecord(w.record);
      }
    });
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
      return {
        identityKey: copyBytes(this.#keyManager.identityKey.publicKey),
        identityKeyEd: copyBytes(this.identityPublicKey),
        signedPreKey: copyBytes(current.publicKey),
        signedPreKeySignature: copyBytes(current.signature),
        signedPreKeyId: current.keyId,
        oneTimePreKey: otk ? copyBytes(otk.publicKey) : null,
        oneTimePreKeyId: otk ? otk.keyId : null,
      };
    } finally {
      for (const k of signed) wipeRecord(k);
      wipeRecord(otk);
    }
  }

  // ── sessions ────────────────────────────────────────────────────────────────────────────────

  /**
   * Starts a session with `peerDid` from its bundle (object, registry JSON or its text) and stores it.
   * Returns the establishment, which the peer needs with the first message (it also stays in
   * `getSession(peerDid).establishment` until the peer's first reply arrives).
   */
  async initiate(peerDid: string, bundle: PreKeyBundle | BundleJson | string, options: InitiateOptions = {}): Promise<ChannelEstablishment> {
    this.#assertOpen();
    parseDid(peerDid);
    const parsed = isBundleObject(bundle) ? bundle : decodeBundle(bundle);
    if (checkDidKey(peerDid, parsed.identityKeyEd) === 'mismatch') {
      throw new IdentityMismatchError(`the bundle's identity key is not the key ${peerDid} names`);
    }
    const ad = checkAssociatedData(options.associatedData);
    return this.#locked(`session:${peerDid}`, async () => {
      const existing = await this.store.getSession(peerDid);
      if (existing && !options.replace) throw new SessionExistsError(peerDid);
      const [channel, establishment] = await SecureChannel.createSender(this.#keyManager, parsed, ad, this.#channelOptions());
      try {
        const metadata: SessionMetadata = {
          role: 'initiator',
          peerIdentityKey: copyBytes(parsed.identityKey),
          peerIdentityKeyEd: copyBytes(parsed.identityKeyEd),
          establishment,
          acceptedEphemeralKey: null,
        };
        await this.store.write([
          { op: 'putSession', record: this.#newRecord(peerDid, existing, [channel], metadata, options.trust), expectedRevision: existing?.revision ?? null },
        ]);
        return establishment;
      } finally {
        await channel.close();
      }
    });
  }

  /**
   * Completes X3DH from the initiator's establishment (object, JSON or its text) and stores the
   * session; the one-time pre-key it names is deleted in the same transaction. With `firstMessage`,
   * returns its plaintext (decrypted before anything is stored); otherwise returns null.
   * A retransmitted establishment of the session already accepted is not an error: it only receives.
   */
  async accept(
    peerDid: string,
    establishment: ChannelEstablishment | EstablishmentJson | string,
    options: AcceptOptions = {},
  ): Promise<Bytes | null> {
    this.#assertOpen();
    parseDid(peerDid);
    const est = isEstablishmentObject(establishment) ? checkEstablishment(establishment) : decodeEstablishment(establishment);
    const first = options.firstMessage === undefined ? null : toMessage(options.firstMessage);
    const ad = checkAssociatedData(options.associatedData);
    const peerEd = options.peerIdentityKeyEd ? this.#checkPeerEd(peerDid, options.peerIdentityKeyEd, est.identityKey) : null;
    return this.#locked(`session:${peerDid}`, async () => {
      const existing = await this.store.getSession(peerDid);
      const meta = existing ? decodeMetadata(existing.metadata) : null;
      let keepOurs = false;
      if (existing && meta) {
        const seen = (key: Bytes | null | undefined) => !!key && this.#crypto.constantTimeEqual(key, est.ephemeralKey);
        if (seen(meta.acceptedEphemeralKey) || seen(meta.inboundEphemeralKey)) {
          return first ? this.#receiveLocked(existing, first) : null;
        }
        if (!first && !options.replace) throw new SessionExistsError(peerDid);
        keepOurs = !options.replace && this.#keepsInitiatorRole(peerDid, meta);
        if (keepOurs && !this.#crypto.constantTimeEqual(meta.peerIdentityKey, est.identityKey)) {
          throw new IdentityMismatchError(`the establishment's identity key is not the one of our session with ${peerDid}`);
        }
      }
      const signed = await this.store.getSignedPreKeys();
      let otk: OneTimePreKeyRecord | null = null;
      const channels: SecureChannel[] = [];
      try {
        if (est.usedOneTimeKeyId !== null) {
          otk = await this.store.getOneTimePreKey(est.usedOneTimeKeyId);
          if (!otk) throw new PreKeyNotFoundError(`one-time pre-key ${est.usedOneTimeKeyId} not found or already consumed`);
        }
        for (const spk of this.#candidateSignedPreKeys(signed, est.signedPreKeyId ?? null)) {
          channels.push(await this.#respondWith(spk, otk, est, ad));
        }
        let plaintext: Bytes | null = null;
        let kept = channels;
        if (first) {
          const [winner, text] = await firstThatDecrypts(channels, first);
          plaintext = text;
          kept = [winner];
        }
        let record: SessionRecord;
        if (keepOurs && existing && meta) {
          // Both sides opened a session at once and ours wins: read theirs with a receive-only channel.
          record = {
            ...existing,
            revision: existing.revision + 1,
            channel: updateChannels(existing.channel, { inbound: kept[0]!.snapshot() }),
            metadata: encodeMetadata({ ...meta, inboundEphemeralKey: copyBytes(est.ephemeralKey) }),
            updatedAt: this.#now(),
          };
        } else {
          const metadata: SessionMetadata = {
            role: 'responder',
            peerIdentityKey: copyBytes(est.identityKey),
            peerIdentityKeyEd: peerEd,
            establishment: null,
            acceptedEphemeralKey: copyBytes(est.ephemeralKey),
          };
          record = this.#newRecord(peerDid, existing, kept, metadata, options.trust);
        }
        // The one-time key goes in the same transaction as the session that used it.
        const batch: StoreWrite[] = otk ? [{ op: 'consumeOneTimePreKey', keyId: otk.keyId }] : [];
        batch.push({ op: 'putSession', record, expectedRevision: existing?.revision ?? null });
        await this.#writeOrWipe(batch, plaintext);
        return plaintext;
      } finally {
        for (const c of channels) await c.close();
        for (const k of signed) wipeRecord(k);
        wipeRecord(otk);
      }
    });
  }

  /** Encrypts for `peerDid`. The advanced chain is stored before the message is returned. */
  async send(peerDid: string, plaintext: Uint8Array): Promise<EncryptedMessage> {
    return (await this.sendWithEstablishment(peerDid, plaintext)).message;
  }

  /**
   * Like `send`, and also returns the establishment the message must travel with (null once the
   * peer has answered), read under the same lock: a session replaced in between cannot pair a
   * message with another session's establishment.
   */
  async sendWithEstablishment(peerDid: string, plaintext: Uint8Array): Promise<OutgoingMessage> {
    this.#assertOpen();
    parseDid(peerDid);
    if (!(plaintext instanceof Uint8Array)) throw new TypeError('plaintext must be a Uint8Array');
    return this.#locked(`session:${peerDid}`, async () => {
      const record = await this.#load(peerDid);
      const { establishment } = decodeMetadata(record.metadata);
      const snapshots = decodeChannels(record.channel);
      if (snapshots.length !== 1) {
        throw new RatchetStateError("this session cannot send before the initiator's first message has arrived");
      }
      const channel = restoreChannel(snapshots[0]!, this.#crypto);
      try {
        const message = await channel.send(plaintext);
        await this.store.write([this.#next(record, { channel: updateChannels(record.channel, { channels: [channel.snapshot()] }) })]);
        return { message, establishment };
      } finally {
        await channel.close();
      }
    });
  }

  /** Decrypts a message from `peerDid`. The new state is stored before the plaintext is returned. */
  async receive(peerDid: string, message: EncryptedMessage | Uint8Array): Promise<Bytes> {
    this.#assertOpen();
    parseDid(peerDid);
    const parsed = toMessage(message);
    return this.#locked(`session:${peerDid}`, async () => this.#receiveLocked(await this.#load(peerDid), parsed));
  }

  async hasSession(peerDid: string): Promise<boolean> {
    this.#assertOpen();
    return (await this.store.getSession(peerDid)) !== null;
  }

  async listSessions(): Promise<string[]> {
    this.#assertOpen();
    return this.store.listSessions();
  }

  async getSession(peerDid: string): Promise<SessionInfo | null> {
    this.#assertOpen();
    const record = await this.store.getSession(peerDid);
    if (!record) return null;
    const meta = decodeMetadata(record.metadata);
    const [primary] = decodeChannels(record.channel);
    return {
      peerDid: record.peerDid,
      role: meta.role,
      establishment: meta.establishment,
      peerIdentityKey: meta.peerIdentityKey,
      peerIdentityKeyEd: meta.peerIdentityKeyEd,
      trust: record.trust,
      messageCount: primary!.messageCount,
      revision: record.revision,
      createdAt: record.createdAt,
      updatedAt: record.updatedAt,
      ratchet: ratchetInfo(primary!.state),
    };
  }

  /** Replaces the trust result kept with a session. */
  async setTrust(peerDid: string, trust: JsonValue): Promise<void> {
    this.#assertOpen();
    await this.#locked(`session:${peerDid}`, async () => {
      const record = await this.#load(peerDid);
      await this.store.write([this.#next(record, { trust })]);
    });
  }

  async deleteSession(peerDid: string): Promise<boolean> {
    this.#assertOpen();
    return this.#locked(`session:${peerDid}`, async () => {
      const record = await this.store.getSession(peerDid);
      if (!record) return false;
      await this.store.write([{ op: 'deleteSession', peerDid, expectedRevision: record.revision }]);
      return true;
    });
  }

  /** Zeroes the identity keys this manager holds. The store stays open (its owner closes it). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#keyManager.destroy();
    this.#identity.wipe();
  }

  // ── internals ───────────────────────────────────────────────────────────────────────────────

  async #receiveLocked(record: SessionRecord, message: EncryptedMessage): Promise<Bytes> {
    const meta = decodeMetadata(record.metadata);
    const inbound = decodeInboundChannel(record.channel);
    const channels: SecureChannel[] = [];
    try {
      if (inbound && isFromChannel(inbound, message)) {
        const reader = restoreChannel(inbound, this.#crypto);
        channels.push(reader);
        const plaintext = await reader.receive(message);
        const channel = updateChannels(record.channel, { inbound: reader.snapshot() });
        await this.#writeOrWipe([this.#next(record, { channel })], plaintext);
        return plaintext;
      }
      for (const snapshot of decodeChannels(record.channel)) channels.push(restoreChannel(snapshot, this.#crypto));
      const [winner, plaintext] = await firstThatDecrypts(channels, message);
      // The initiator's peer has answered, so it holds the session: stop offering the establishment,
      // and drop the receive-only channel of a simultaneous open (the relay keeps each sender's order).
      const metadata = meta.establishment ? encodeMetadata({ ...meta, establishment: null }) : record.metadata;
      await this.#writeOrWipe([this.#next(record, { channel: encodeChannels([winner.snapshot()]), metadata })], plaintext);
      return plaintext;
    } finally {
      for (const c of channels) await c.close();
    }
  }

  /** The write that stores `record` changed by `change`, at the next revision and only over this one. */
  #next(record: SessionRecord, change: Partial<Pick<SessionRecord, 'channel' | 'metadata' | 'trust'>>): StoreWrite {
    return { op: 'putSession', record: { ...record, ...change, revision: record.revision + 1, updatedAt: this.#now() }, expectedRevision: record.revision };
  }

  /** A plaintext whose new state could not be stored is never returned: zero it. */
  async #writeOrWipe(batch: StoreWrite[], plaintext: Bytes | null): Promise<void> {
    try {
      await this.store.write(batch);
    } catch (error) {
      plaintext?.fill(0);
      throw error;
    }
  }

  /**
   * When both agents open a session to each other at once, the one with the lower DID keeps its
   * initiator session; the other gives its own up for it. Both sides compute the same answer.
   */
  #keepsInitiatorRole(peerDid: string, meta: SessionMetadata): boolean {
    return meta.role === 'initiator' && meta.establishment !== null && this.did < peerDid;
  }

  /** Signed pre-keys to answer an establishment with: the one it names, or every live one (current first). */
  #candidateSignedPreKeys(signed: SignedPreKeyRecord[], named: number | null): SignedPreKeyRecord[] {
    const live = liveSignedPreKeys(signed, this.#now(), this.#retentionMs);
    if (live.length === 0 || live[0]!.retiredAt !== null) {
      throw new PreKeyNotFoundError('no signed pre-key: call rotateSignedPreKey() first');
    }
    if (named === null) return live.slice(0, MAX_CANDIDATE_CHANNELS);
    const match = live.find((k) => k.keyId === named);
    if (!match) throw new PreKeyNotFoundError(`signed pre-key ${named} is unknown or expired`);
    return [match];
  }

  /** A responder channel for one signed pre-key, computed on a throwaway key manager. */
  async #respondWith(
    spk: SignedPreKeyRecord,
    otk: OneTimePreKeyRecord | null,
    est: ChannelEstablishment,
    ad: Uint8Array,
  ): Promise<SecureChannel> {
    const set = preKeySet([signedToJson(spk, null)], otk ? [oneTimeToJson(otk)] : [], { nextSignedPreKeyId: 0, nextOneTimePreKeyId: 0 });
    const km = await this.#restoreKeyManager(set);
    try {
      return await SecureChannel.createReceiver(km, { ...est, signedPreKeyId: spk.keyId }, ad, this.#channelOptions());
    } finally {
      km.destroy();
    }
  }

  async #restoreKeyManager(set: PreKeySetJson): Promise<X3DHKeyManager> {
    const secret = this.#identity.secretKey;
    try {
      return await X3DHKeyManager.restore(secret, this.identityPublicKey, set, {
        crypto: this.#crypto,
        now: this.#now,
        signedPreKeyRetentionMs: this.#retentionMs,
      });
    } catch (cause) {
      if (cause instanceof InvalidKeyError) throw new CorruptRecordError(`stored pre-keys: ${cause.message}`, { cause });
      throw cause;
    } finally {
      secret.fill(0);
    }
  }

  #newRecord(
    peerDid: string,
    existing: SessionRecord | null,
    channels: readonly SecureChannel[],
    metadata: SessionMetadata,
    trust: JsonValue | undefined,
  ): SessionRecord {
    const now = this.#now();
    return {
      peerDid,
      revision: (existing?.revision ?? 0) + 1,
      channel: encodeChannels(channels.map((c) => c.snapshot())),
      metadata: encodeMetadata(metadata),
      trust: trust ?? null,
      createdAt: now,
      updatedAt: now,
    };
  }

  #checkPeerEd(peerDid: string, peerEd: Uint8Array, x25519Identity: Uint8Array): Bytes {
    if (!(peerEd instanceof Uint8Array) || peerEd.length !== 32) throw new InvalidKeyError('peerIdentityKeyEd must be 32 bytes');
    if (checkDidKey(peerDid, peerEd) === 'mismatch') throw new IdentityMismatchError(`peerIdentityKeyEd is not the key ${peerDid} names`);
    if (!this.#crypto.constantTimeEqual(this.#crypto.ed25519ToX25519Public(peerEd), x25519Identity)) {
      throw new IdentityMismatchError('the establishment identity key is not the X25519 form of peerIdentityKeyEd');
    }
    return copyBytes(peerEd);
  }

  async #load(peerDid: string): Promise<SessionRecord> {
    const record = await this.store.getSession(peerDid);
    if (!record) throw new SessionNotFoundError(peerDid);
    return record;
  }

  #channelOptions() {
    return { crypto: this.#crypto, ...this.#ratchetLimits };
  }

  #locked<T>(what: string, task: () => Promise<T>): Promise<T> {
    return this.#locks.run(`agentmesh:${this.store.lockScope}:${what}`, async () => {
      this.#assertOpen();
      return task();
    });
  }

  #assertOpen(): void {
    if (this.#closed) throw new SessionManagerClosedError();
  }
}

/**
 * Tries each channel in order; the first that authenticates wins. Only an authentication failure
 * moves on to the next candidate: any other error is the message's fault and is thrown as is.
 */
async function firstThatDecrypts(channels: readonly SecureChannel[], message: EncryptedMessage): Promise<[SecureChannel, Bytes]> {
  let firstError: unknown;
  for (const channel of channels) {
    try {
      return [channel, await channel.receive(message)];
    } catch (error) {
      if (!(error instanceof AuthenticationError)) throw error;
      firstError ??= error;
    }
  }
  throw firstError ?? new AuthenticationError();
}

/** A message of the peer's receive-only channel: its ratchet key is the one that channel last saw (it never answers). */
function isFromChannel(snapshot: { state: RatchetStateDict }, message: EncryptedMessage): boolean {
  const remote = snapshot.state.dh_remote_public;
  return typeof remote === 'string' && remote === toHex(message.header.dhPublicKey);
}

function ratchetInfo(state: RatchetStateDict): RatchetInfo {
  return {
    sendCount: state.send_message_number,
    receiveCount: state.recv_message_number,
    previousSendCount: state.previous_send_chain_length,
    dhPublicKey: fromHex(state.dh_self_public),
    remoteDhPublicKey: state.dh_remote_public ? fromHex(state.dh_remote_public) : null,
    skippedKeys: Object.keys(state.skipped_keys ?? {}).length,
  };
}

function toMessage(message: EncryptedMessage | Uint8Array): EncryptedMessage {
  return message instanceof EncryptedMessage ? message : EncryptedMessage.deserialize(message);
}

function checkAssociatedData(ad: Uint8Array | undefined): Uint8Array {
  if (ad === undefined) return EMPTY;
  if (!(ad instanceof Uint8Array)) throw new TypeError('associatedData must be a Uint8Array');
  if (ad.length > MAX_ASSOCIATED_DATA_BYTES) throw new RangeError(`associatedData is larger than ${MAX_ASSOCIATED_DATA_BYTES} bytes`);
  return ad;
}

function isBundleObject(bundle: unknown): bundle is PreKeyBundle {
  return typeof bundle === 'object' && bundle !== null && (bundle as PreKeyBundle).identityKey instanceof Uint8Array;
}

function isEstablishmentObject(value: unknown): value is ChannelEstablishment {
  return typeof value === 'object' && value !== null && (value as ChannelEstablishment).identityKey instanceof Uint8Array;
}

function checkEstablishment(e: ChannelEstablishment): ChannelEstablishment {
  const key = (v: unknown, name: string) => {
    if (!(v instanceof Uint8Array) || v.length !== 32) throw new InvalidKeyError(`establishment ${name} must be 32 bytes`);
  };
  key(e.identityKey, 'identityKey');
  key(e.ephemeralKey, 'ephemeralKey');
  const id = (v: unknown, name: string) => {
    if (v === null || v === undefined) return null;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new InvalidKeyError(`establishment ${name} must be a uint32`);
    return v;
  };
  return {
    identityKey: e.identityKey,
    ephemeralKey: e.ephemeralKey,
    usedOneTimeKeyId: id(e.usedOneTimeKeyId, 'usedOneTimeKeyId'),
    signedPreKeyId: id(e.signedPreKeyId, 'signedPreKeyId'),
  };
}
