import type { CryptoProvider, X25519KeyPair } from '../crypto/index.js';
import { concatBytes, copyBytes, type Bytes } from '../encoding.js';
import { AuthenticationError, ChannelClosedError } from '../errors.js';
import { DoubleRatchet, type PlaintextCheck, type RatchetOptions } from '../ratchet/double-ratchet.js';
import { RatchetState, type RatchetStateDict } from '../ratchet/state.js';
import { publicKeyId, Redacted, type Described } from '../redacted.js';
import { EncryptedMessage } from '../wire/encrypted-message.js';
import type { Agreement } from '../x3dh/agreement.js';
import type { PreKeyBundle } from '../x3dh/bundle.js';
import type { X3DHKeyManager } from '../x3dh/key-manager.js';
import type { ChannelEstablishment } from './establishment.js';

const EMPTY = new Uint8Array(0);

export type ChannelOptions = Omit<RatchetOptions, 'crypto'> & { crypto?: CryptoProvider };

export interface ChannelSnapshot {
  /** Channel associated data: application AD || IK_initiator || IK_responder. */
  readonly associatedData: Bytes;
  readonly localIdentityKey: Bytes;
  readonly remoteIdentityKey: Bytes;
  readonly messageCount: number;
  readonly state: RatchetStateDict;
}

/** X3DH plus the Double Ratchet behind a send/receive API. */
export class SecureChannel extends Redacted {
  readonly localIdentityKey: Bytes;
  readonly remoteIdentityKey: Bytes;
  readonly #associatedData: Bytes;
  #ratchet: DoubleRatchet;
  /** Responder only, until the first message authenticates: ratchets built on retained signed pre-keys. */
  #fallbacks: DoubleRatchet[];
  #closed = false;
  #messageCount: number;

  private constructor(args: {
    ratchet: DoubleRatchet;
    fallbacks?: DoubleRatchet[];
    associatedData: Bytes;
    localIdentityKey: Bytes;
    remoteIdentityKey: Bytes;
    messageCount?: number;
  }) {
    super('SecureChannel');
    this.#ratchet = args.ratchet;
    this.#fallbacks = args.fallbacks ?? [];
    this.#associatedData = args.associatedData;
    this.localIdentityKey = args.localIdentityKey;
    this.remoteIdentityKey = args.remoteIdentityKey;
    this.#messageCount = args.messageCount ?? 0;
  }

  /** Initiator: runs X3DH against `bundle`; send the establishment to the peer with the first message. */
  static async createSender(
    keyManager: X3DHKeyManager,
    bundle: PreKeyBundle,
    associatedData: Uint8Array = EMPTY,
    options: ChannelOptions = {},
  ): Promise<[SecureChannel, ChannelEstablishment]> {
    const x3dh = await keyManager.initiate(bundle);
    const channel = await SecureChannel.initiator(x3dh, bundle, associatedData, { ...options, crypto: options.crypto ?? keyManager.crypto });
    const establishment: ChannelEstablishment = {
      identityKey: copyBytes(keyManager.identityKey.publicKey),
      ephemeralKey: x3dh.ephemeralPublicKey,
      usedOneTimeKeyId: x3dh.usedOneTimeKeyId,
      signedPreKeyId: x3dh.signedPreKeyId,
    };
    return [channel, establishment];
  }

  /** Responder: completes X3DH from the initiator's establishment (consuming its one-time pre-key). */
  static async createReceiver(
    keyManager: X3DHKeyManager,
    establishment: ChannelEstablishment,
    associatedData: Uint8Array = EMPTY,
    options: ChannelOptions = {},
  ): Promise<SecureChannel> {
    const x3dh = await keyManager.respond({
      peerIdentityKey: establishment.identityKey,
      ephemeralPublicKey: establishment.ephemeralKey,
      usedOneTimeKeyId: establishment.usedOneTimeKeyId,
      signedPreKeyId: establishment.signedPreKeyId ?? null,
    });
    const agreements = [x3dh, ...x3dh.alternatives].map((a) => ({
      sharedSecret: a.sharedSecret,
      associatedData: x3dh.associatedData,
      signedPreKey: a.signedPreKey.keyPair,
    }));
    return SecureChannel.responder(agreements, associatedData, { ...options, crypto: options.crypto ?? keyManager.crypto });
  }

  /**
   * Initiator, on a finished X3DH agreement (`initiate` in x3dh/agreement.ts): the first ratchet
   * step runs against the bundle's signed pre-key. Zeroes the agreement's shared secret.
   */
  static async initiator(
    agreement: Agreement,
    bundle: Pick<PreKeyBundle, 'identityKey' | 'signedPreKey'>,
    associatedData: Uint8Array = EMPTY,
    options: ChannelOptions = {},
  ): Promise<SecureChannel> {
    try {
      const ratchet = await DoubleRatchet.initSender({ sharedSecret: agreement.sharedSecret, remoteDhPublic: bundle.signedPreKey }, options);
      return new SecureChannel({
        ratchet,
        associatedData: concatBytes(associatedData, agreement.associatedData),
        localIdentityKey: copyBytes(agreement.associatedData.subarray(0, 32)),
        remoteIdentityKey: copyBytes(bundle.identityKey),
      });
    } finally {
      agreement.sharedSecret.fill(0);
    }
  }

  /**
   * Responder, on finished X3DH agreements (`respond` in x3dh/agreement.ts), one per signed pre-key
   * the initiator may have used: the first is the channel's ratchet, the others are tried only until
   * the first message authenticates. Each signed pre-key pair becomes its ratchet's first pair
   * (copied). Zeroes the agreements' shared secrets.
   */
  static responder(
    agreements: readonly (Agreement & { readonly signedPreKey: X25519KeyPair })[],
    associatedData: Uint8Array = EMPTY,
    options: ChannelOptions = {},
  ): SecureChannel {
    const [first] = agreements;
    if (!first) throw new RangeError('a responder channel needs at least one agreement');
    const ratchets: DoubleRatchet[] = [];
    try {
      for (const a of agreements) ratchets.push(DoubleRatchet.initReceiver({ sharedSecret: a.sharedSecret, dhKeyPair: a.signedPreKey }, options));
    } finally {
      for (const a of agreements) a.sharedSecret.fill(0);
    }
    // X3DH's associated data is IK_initiator || IK_responder.
    return new SecureChannel({
      ratchet: ratchets[0]!,
      fallbacks: ratchets.slice(1),
      associatedData: concatBytes(associatedData, first.associatedData),
      localIdentityKey: copyBytes(first.associatedData.subarray(32, 64)),
      remoteIdentityKey: copyBytes(first.associatedData.subarray(0, 32)),
    });
  }

  /** Rebuilds a channel from `snapshot()` output (for example after a restart). */
  static restore(snapshot: ChannelSnapshot, options: ChannelOptions = {}): SecureChannel {
    const state = RatchetState.fromDict(snapshot.state);
    return new SecureChannel({
      ratchet: new DoubleRatchet(state, options),
      associatedData: copyBytes(snapshot.associatedData),
      localIdentityKey: copyBytes(snapshot.localIdentityKey),
      remoteIdentityKey: copyBytes(snapshot.remoteIdentityKey),
      messageCount: snapshot.messageCount,
    });
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  /** Successful sends plus successful receives. */
  get messageCount(): number {
    return this.#messageCount;
  }

  get associatedData(): Bytes {
    return copyBytes(this.#associatedData);
  }

  /** The live ratchet state (read it; do not modify it). */
  get state(): RatchetState {
    return this.#ratchet.state;
  }

  snapshot(): ChannelSnapshot {
    if (this.#closed) throw new ChannelClosedError();
    return {
      associatedData: copyBytes(this.#associatedData),
      localIdentityKey: copyBytes(this.localIdentityKey),
      remoteIdentityKey: copyBytes(this.remoteIdentityKey),
      messageCount: this.#messageCount,
      state: this.#ratchet.state.toDict(),
    };
  }

  async send(plaintext: Uint8Array): Promise<EncryptedMessage> {
    if (this.#closed) throw new ChannelClosedError();
    const message = await this.#ratchet.encrypt(plaintext, this.#associatedData);
    this.#messageCount += 1;
    return message;
  }

  /**
   * Accepts an `EncryptedMessage` or its binary form. Fails without changing any state, also when
   * `check` refuses the authenticated plaintext (it runs before anything is committed).
   */
  async receive(message: EncryptedMessage | Uint8Array, check?: PlaintextCheck): Promise<Bytes> {
    if (this.#closed) throw new ChannelClosedError();
    const parsed = message instanceof EncryptedMessage ? message : EncryptedMessage.deserialize(message);
    let plaintext: Bytes;
    try {
      plaintext = await this.#ratchet.decrypt(parsed, this.#associatedData, check);
    } catch (error) {
      plaintext = await this.#tryFallbacks(parsed, error, check);
    }
    this.#dropFallbacks();
    this.#messageCount += 1;
    return plaintext;
  }

  /**
   * Wipes every key held (root, chains, ratchet private keys, skipped keys; the private keys
   * through the provider, so that no native backend keeps a key object for them) and releases the
   * channel: any later use throws `ChannelClosedError`.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const fallbacks = this.#fallbacks;
    this.#fallbacks = [];
    await Promise.all([...fallbacks.map((r) => r.wipe()), this.#ratchet.wipe()]);
  }

  /** Counters and public-key ids only (what `String()`, `util.inspect` and `JSON.stringify` print). */
  describe(): Described {
    return {
      localIdentityKey: publicKeyId(this.localIdentityKey),
      remoteIdentityKey: publicKeyId(this.remoteIdentityKey),
      messageCount: this.#messageCount,
      closed: this.#closed,
      ...this.#ratchet.describe(),
    };
  }

  async #tryFallbacks(message: EncryptedMessage, error: unknown, check: PlaintextCheck | undefined): Promise<Bytes> {
    if (!(error instanceof AuthenticationError)) throw error;
    // Tells a refusal by `check` (the message is authentic under this signed pre-key) from a key that does not fit.
    let refusal: { error: unknown } | null = null;
    const watched: PlaintextCheck | undefined = check
      ? (plaintext) => {
          try {
            check(plaintext);
          } catch (e) {
            refusal = { error: e };
            throw e;
          }
        }
      : undefined;
    for (const [i, candidate] of this.#fallbacks.entries()) {
      let plaintext: Bytes;
      try {
        plaintext = await candidate.decrypt(message, this.#associatedData, watched);
      } catch {
        // Refused: nothing changes, not even which ratchet is primary.
        if (refusal) throw (refusal as { error: unknown }).error;
        continue; // not this signed pre-key either
      }
      const primary = this.#ratchet;
      this.#ratchet = candidate;
      this.#fallbacks.splice(i, 1);
      void primary.wipe();
      return plaintext;
    }
    throw error;
  }

  #dropFallbacks(): void {
    for (const r of this.#fallbacks) void r.wipe();
    this.#fallbacks = [];
  }
}
