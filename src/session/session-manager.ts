import { decodeEstablishment, type ChannelEstablishment, type EstablishmentJson } from '../channel/establishment.js';
import { SecureChannel } from '../channel/secure-channel.js';
import { getDefaultCryptoProvider, type CryptoProvider, type X25519KeyPair } from '../crypto/index.js';
import { copyBytes, fromHex, toHex, type Bytes } from '../encoding.js';
import { checkDurationOption } from '../options.js';
import { checkRatchetOptions } from '../ratchet/double-ratchet.js';
import type { RatchetStateDict } from '../ratchet/state.js';
import { AuthenticationError, InvalidKeyError, RatchetStateError } from '../errors.js';
import { AgentIdentity } from '../identity/agent-identity.js';
import { checkDidKey, parseDid } from '../identity/did.js';
import { CorruptRecordError, StoreConflictError } from '../storage/errors.js';
import { defaultLocks, type SessionLocks } from '../storage/locks.js';
import { PreKeyManager } from '../prekeys/prekey-manager.js';
import { wipeRecord, type JsonValue, type SessionRecord } from '../storage/records.js';
import type { AgentStore, StoreWrite } from '../storage/store.js';
import { EncryptedMessage } from '../wire/encrypted-message.js';
import { initiate, respond } from '../x3dh/agreement.js';
import { decodeBundle, type BundleJson, type PreKeyBundle } from '../x3dh/bundle.js';
import { SessionExistsError, IdentityMismatchError, IdentityNotFoundError, SessionManagerClosedError, SessionNotFoundError } from './errors.js';
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
  type InitiatorMetadata,
  type SessionMetadata,
  type SessionRole,
} from './session-record.js';

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
  /** How long a rotated-out signed pre-key still answers establishments (default `SIGNED_PRE_KEY_RETENTION_MS`, 14 days). */
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
 * nothing is returned, the stored state is what it was, and the call can be retried. The agent's
 * pre-keys are `preKeys` (src/prekeys), which `accept` asks for the keys an establishment names.
 */
export class SessionManager {
  readonly store: AgentStore;
  readonly did: string;
  readonly identityPublicKey: Bytes;
  /** The agent's signed and one-time pre-keys, in the same store. */
  readonly preKeys: PreKeyManager;
  readonly #identity: AgentIdentity;
  /** The X25519 form of the identity, for X3DH on both sides. Pre-keys are loaded per use, never cached. */
  readonly #identityKey: X25519KeyPair;
  readonly #crypto: CryptoProvider;
  readonly #locks: SessionLocks;
  readonly #now: () => number;
  readonly #ratchetLimits: { maxSkip?: number; maxSkippedKeys?: number };
  #closed = false;

  private constructor(args: {
    options: SessionManagerOptions;
    identity: AgentIdentity;
    identityKey: X25519KeyPair;
    crypto: CryptoProvider;
  }) {
    const { options } = args;
    this.store = options.store;
    this.#identity = args.identity;
    this.did = args.identity.did;
    this.identityPublicKey = copyBytes(args.identity.publicKey);
    this.#identityKey = args.identityKey;
    this.#crypto = args.crypto;
    this.#locks = options.locks ?? defaultLocks();
    this.#now = options.now ?? Date.now;
    this.preKeys = new PreKeyManager({
      store: options.store,
      identity: args.identity,
      crypto: args.crypto,
      locks: this.#locks,
      now: this.#now,
      signedPreKeyRetentionMs: options.signedPreKeyRetentionMs,
    });
    this.#ratchetLimits = {};
    if (options.maxSkip !== undefined) this.#ratchetLimits.maxSkip = options.maxSkip;
    if (options.maxSkippedKeys !== undefined) this.#ratchetLimits.maxSkippedKeys = options.maxSkippedKeys;
  }

  /** Loads the agent from its store (saving `options.identity` there on first use). */
  static async open(options: SessionManagerOptions): Promise<SessionManager> {
    // Before the store is touched: a bad option changes nothing.
    checkRatchetOptions(options);
    checkDurationOption('signedPreKeyRetentionMs', options.signedPreKeyRetentionMs, 0);
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
        const identityKey = { privateKey: crypto.ed25519ToX25519Private(secret.subarray(0, 32)), publicKey: crypto.ed25519ToX25519Public(identity.publicKey) };
        return new SessionManager({ options, identity, identityKey, crypto });
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
      const { establishment, ...agreement } = await initiate(this.#identityKey, parsed, this.#crypto);
      const channel = await SecureChannel.initiator(agreement, parsed, ad, this.#channelOptions());
      try {
        const metadata: SessionMetadata = {
          role: 'initiator',
          peerIdentityKey: copyBytes(parsed.identityKey),
          peerIdentityKeyEd: copyBytes(parsed.identityKeyEd),
          establishment,
          inboundEphemeralKey: null,
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
      let ours: InitiatorMetadata | null = null;
      if (existing && meta) {
        // The ephemeral key of the establishment this session already answered, if any.
        const answered = meta.role === 'responder' ? meta.acceptedEphemeralKey : meta.inboundEphemeralKey;
        if (answered && this.#crypto.constantTimeEqual(answered, est.ephemeralKey)) {
          return first ? this.#receiveLocked(existing, first) : null;
        }
        if (!first && !options.replace) throw new SessionExistsError(peerDid);
        ours = !options.replace && this.#keepsInitiatorRole(peerDid, meta) ? meta : null;
        if (ours && !this.#crypto.constantTimeEqual(ours.peerIdentityKey, est.identityKey)) {
          throw new IdentityMismatchError(`the establishment's identity key is not the one of our session with ${peerDid}`);
        }
      }
      const keys = await this.preKeys.responderKeys(
        { signedPreKeyId: est.signedPreKeyId ?? null, oneTimePreKeyId: est.usedOneTimeKeyId },
        MAX_CANDIDATE_CHANNELS,
      );
      const channels: SecureChannel[] = [];
      try {
        for (const signedPreKey of keys.signedPreKeys) {
          const pairs = { identity: this.#identityKey, signedPreKey, oneTimePreKey: keys.oneTimePreKey };
          const agreement = await respond(pairs, est, this.#crypto);
          channels.push(SecureChannel.responder([{ ...agreement, signedPreKey }], ad, this.#channelOptions()));
        }
        let plaintext: Bytes | null = null;
        let kept = channels;
        if (first) {
          const [winner, text] = await firstThatDecrypts(channels, first);
          plaintext = text;
          kept = [winner];
        }
        let record: SessionRecord;
        if (ours && existing) {
          // Both sides opened a session at once and ours wins: read theirs with a receive-only channel.
          record = {
            ...existing,
            revision: existing.revision + 1,
            channel: updateChannels(existing.channel, { inbound: kept[0]!.snapshot() }),
            metadata: encodeMetadata({ ...ours, inboundEphemeralKey: copyBytes(est.ephemeralKey) }),
            updatedAt: this.#now(),
          };
        } else {
          const metadata: SessionMetadata = {
            role: 'responder',
            peerIdentityKey: copyBytes(est.identityKey),
            peerIdentityKeyEd: peerEd,
            acceptedEphemeralKey: copyBytes(est.ephemeralKey),
          };
          record = this.#newRecord(peerDid, existing, kept, metadata, options.trust);
        }
        // The one-time key goes in the same transaction as the session that used it.
        const batch: StoreWrite[] = [...keys.consume, { op: 'putSession', record, expectedRevision: existing?.revision ?? null }];
        await this.#writeOrWipe(batch, plaintext);
        return plaintext;
      } finally {
        for (const c of channels) await c.close();
        keys.wipe();
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
      const meta = decodeMetadata(record.metadata);
      const establishment = meta.role === 'initiator' ? meta.establishment : null;
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
      establishment: meta.role === 'initiator' ? meta.establishment : null,
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

  /** Zeroes the identity keys this manager holds and closes `preKeys`. The store stays open (its owner closes it). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.preKeys.close();
    // Through the provider: X3DH may have imported the identity key into a native backend.
    this.#crypto.zeroize(this.#identityKey.privateKey);
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
      const metadata = meta.role === 'initiator' && meta.establishment ? encodeMetadata({ ...meta, establishment: null }) : record.metadata;
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
  #keepsInitiatorRole(peerDid: string, meta: SessionMetadata): meta is InitiatorMetadata {
    return meta.role === 'initiator' && meta.establishment !== null && this.did < peerDid;
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
