import { getDefaultCryptoProvider, type CryptoProvider, type X25519KeyPair } from '../crypto/index.js';
import { concatBytes, copyBytes, type Bytes } from '../encoding.js';
import {
  InvalidKeyError,
  RatchetStateError,
  ReplayedMessageError,
  TooManySkippedMessagesError,
} from '../errors.js';
import { EncryptedMessage, encodeHeaderInto } from '../wire/encrypted-message.js';
import { HEADER_LENGTH, NONCE_LENGTH } from '../wire/limits.js';
import { kdfChain, kdfRoot } from './kdf.js';
import { RatchetState, skippedKeyId } from './state.js';

const EMPTY = new Uint8Array(0);

export interface RatchetOptions {
  crypto?: CryptoProvider;
  /** Most message keys one message may make us skip (default 100). Stored in the state. */
  maxSkip?: number;
  /** Most skipped keys kept in total; the oldest are dropped first (default 2000). Stored in the state. */
  maxSkippedKeys?: number;
}

/**
 * Looks at an authenticated plaintext before the ratchet commits it; throwing refuses the message
 * and leaves the state as it was (the plaintext is zeroed). Runs synchronously, inside the lock.
 */
export type PlaintextCheck = (plaintext: Bytes) => void;

type KeyPairInput = X25519KeyPair | readonly [privateKey: Uint8Array, publicKey: Uint8Array];

function checkKey(bytes: Uint8Array, what: string): void {
  if (!(bytes instanceof Uint8Array) || bytes.length !== 32) throw new InvalidKeyError(`${what} must be 32 bytes`);
}

/**
 * The Double Ratchet (AgentMesh v1 constants). Decryption works on a draft and commits only once
 * the AEAD tag verifies (and the caller's `PlaintextCheck`, if any, passes), so a failed call of
 * any kind leaves the state exactly as it was.
 * Calls on one instance run one at a time, in call order.
 */
export class DoubleRatchet {
  readonly state: RatchetState;
  readonly #crypto: CryptoProvider;
  #tail: Promise<unknown> = Promise.resolve();

  constructor(state: RatchetState, options: RatchetOptions = {}) {
    this.state = state;
    this.#crypto = options.crypto ?? getDefaultCryptoProvider();
    if (options.maxSkip !== undefined) state.maxSkip = options.maxSkip;
    if (options.maxSkippedKeys !== undefined) state.maxSkippedKeys = options.maxSkippedKeys;
  }

  get crypto(): CryptoProvider {
    return this.#crypto;
  }

  /** Initiator: draws the first ratchet key pair and derives the first sending chain. */
  static async initSender(
    params: { sharedSecret: Uint8Array; remoteDhPublic: Uint8Array },
    options: RatchetOptions = {},
  ): Promise<DoubleRatchet> {
    checkKey(params.sharedSecret, 'shared secret');
    checkKey(params.remoteDhPublic, 'remote ratchet key');
    const crypto = options.crypto ?? getDefaultCryptoProvider();
    const pair = await crypto.x25519GenerateKeyPair();
    const dh = await crypto.x25519(pair.privateKey, params.remoteDhPublic);
    const [rootKey, chainKeySend] = await kdfRoot(crypto, params.sharedSecret, dh);
    dh.fill(0);
    const state = new RatchetState({
      dhSelfPrivate: pair.privateKey,
      dhSelfPublic: pair.publicKey,
      dhRemotePublic: copyBytes(params.remoteDhPublic),
      rootKey,
      chainKeySend,
    });
    return new DoubleRatchet(state, { ...options, crypto });
  }

  /** Responder: its signed pre-key pair is the first ratchet pair; no chains until the first message. */
  static initReceiver(
    params: { sharedSecret: Uint8Array; dhKeyPair: KeyPairInput },
    options: RatchetOptions = {},
  ): DoubleRatchet {
    checkKey(params.sharedSecret, 'shared secret');
    const [privateKey, publicKey] = Array.isArray(params.dhKeyPair)
      ? (params.dhKeyPair as readonly [Uint8Array, Uint8Array])
      : [(params.dhKeyPair as X25519KeyPair).privateKey, (params.dhKeyPair as X25519KeyPair).publicKey];
    checkKey(privateKey, 'ratchet private key');
    checkKey(publicKey, 'ratchet public key');
    // Copies: the ratchet zeroes what it replaces, and must not zero the caller's pre-key.
    const state = new RatchetState({
      dhSelfPrivate: copyBytes(privateKey),
      dhSelfPublic: copyBytes(publicKey),
      rootKey: copyBytes(params.sharedSecret),
    });
    return new DoubleRatchet(state, options);
  }

  encrypt(plaintext: Uint8Array, associatedData: Uint8Array = EMPTY): Promise<EncryptedMessage> {
    return this.#exclusive(() => this.#encrypt(plaintext, associatedData));
  }

  /** With `check`, an authentic message the check refuses changes nothing either (see `PlaintextCheck`). */
  decrypt(message: EncryptedMessage, associatedData: Uint8Array = EMPTY, check?: PlaintextCheck): Promise<Bytes> {
    return this.#exclusive(() => this.#decrypt(message, associatedData, check));
  }

  /** Zeroes every key byte of the state. The ratchet is unusable afterwards. */
  wipe(): Promise<void> {
    return this.#exclusive(async () => this.state.wipe());
  }

  #exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(task, task);
    this.#tail = run.catch(() => undefined);
    return run;
  }

  async #encrypt(plaintext: Uint8Array, associatedData: Uint8Array): Promise<EncryptedMessage> {
    const s = this.state;
    if (!s.chainKeySend) throw new RatchetStateError('no sending chain yet: the responder sends only after it has received');
    if (s.sendMessageNumber >= 0xffffffff) throw new RatchetStateError('sending chain exhausted');
    const header = { dhPublicKey: s.dhSelfPublic, previousChainLength: s.previousSendChainLength, messageNumber: s.sendMessageNumber };
    const chain = kdfChain(this.#crypto, s.chainKeySend);
    const [messageKey, nextChainKey] = chain instanceof Promise ? await chain : chain;
    const nonce = this.#crypto.randomBytes(NONCE_LENGTH);
    const aad = new Uint8Array(associatedData.length + HEADER_LENGTH);
    aad.set(associatedData, 0);
    encodeHeaderInto(aad, associatedData.length, header);
    const sealed = this.#crypto.aeadSeal(messageKey, nonce, plaintext, aad);
    messageKey.fill(0);
    s.chainKeySend.fill(0);
    s.chainKeySend = nextChainKey;
    s.sendMessageNumber += 1;
    return new EncryptedMessage({ ...header, dhPublicKey: copyBytes(header.dhPublicKey) }, concatBytes(nonce, sealed));
  }

  async #decrypt(message: EncryptedMessage, associatedData: Uint8Array, check: PlaintextCheck | undefined): Promise<Bytes> {
    if (!(message instanceof EncryptedMessage)) throw new TypeError('decrypt expects an EncryptedMessage');
    const crypto = this.#crypto;
    const s = this.state;
    const { dhPublicKey, previousChainLength, messageNumber } = message.header;
    const aad = message.authenticatedData(associatedData);
    const nonce = message.ciphertext.subarray(0, NONCE_LENGTH);
    const sealed = message.ciphertext.subarray(NONCE_LENGTH);

    // The id is a hex string: build it only when there are skipped keys to look up.
    const cachedId = s.skippedKeys.size > 0 ? skippedKeyId(dhPublicKey, messageNumber) : '';
    const cached = s.skippedKeys.size > 0 ? s.skippedKeys.get(cachedId) : undefined;
    if (cached) {
      const plaintext = crypto.aeadOpen(cached, nonce, sealed, aad);
      if (check) checkOrZero(check, plaintext);
      s.skippedKeys.delete(cachedId);
      cached.fill(0);
      return plaintext;
    }

    const sameChain = s.dhRemotePublic !== null && crypto.constantTimeEqual(dhPublicKey, s.dhRemotePublic);
    if (sameChain && messageNumber < s.recvMessageNumber) {
      throw new ReplayedMessageError(`message ${messageNumber} of this chain was already received (or its key was discarded)`);
    }

    // Draft state: nothing below touches `s` until the AEAD tag has verified.
    const created: Bytes[] = [];
    const track = <T extends Bytes>(b: T): T => (created.push(b), b);
    let remote = s.dhRemotePublic;
    let rootKey = s.rootKey;
    let chainRecv = s.chainKeyRecv;
    let chainSend = s.chainKeySend;
    let recvN = s.recvMessageNumber;
    let sendN = s.sendMessageNumber;
    let prevN = s.previousSendChainLength;
    let selfPair: X25519KeyPair = { privateKey: s.dhSelfPrivate, publicKey: s.dhSelfPublic };
    const newSkipped: [string, Bytes][] = [];

    const skipUntil = async (until: number): Promise<void> => {
      if (chainRecv === null) return;
      if (until - recvN > s.maxSkip) {
        throw new TooManySkippedMessagesError(`too many skipped messages (${until - recvN} > ${s.maxSkip})`);
      }
      while (recvN < until) {
        const step = kdfChain(crypto, chainRecv);
        const [mk, next] = step instanceof Promise ? await step : step;
        newSkipped.push([skippedKeyId(remote!, recvN), track(mk)]);
        chainRecv = track(next);
        recvN += 1;
      }
    };

    let plaintext: Bytes;
    try {
      if (!sameChain) {
        await skipUntil(previousChainLength);
        prevN = sendN;
        sendN = 0;
        recvN = 0;
        remote = copyBytes(dhPublicKey);
        const dhRecv = track(await crypto.x25519(selfPair.privateKey, remote));
        [rootKey, chainRecv] = (await kdfRoot(crypto, rootKey, dhRecv)).map(track) as [Bytes, Bytes];
      }
      // skipUntil does nothing unless there is something to skip; spare the call (a Promise) then.
      if (chainRecv !== null && recvN < messageNumber) await skipUntil(messageNumber);
      const step = kdfChain(crypto, chainRecv!);
      const [messageKey, next] = step instanceof Promise ? await step : step;
      track(messageKey);
      chainRecv = track(next);
      recvN += 1;
      plaintext = crypto.aeadOpen(messageKey, nonce, sealed, aad);
      // Before the next key pair is drawn, like a forgery: a refused message leaves no trace.
      if (check) checkOrZero(check, plaintext);
      if (!sameChain) {
        // Our next ratchet pair only once the message is authentic: a forgery draws no randomness,
        // so it cannot change which keys this ratchet generates later.
        const pair = await crypto.x25519GenerateKeyPair();
        track(pair.privateKey);
        selfPair = pair;
        const dhSend = track(await crypto.x25519(pair.privateKey, remote!));
        [rootKey, chainSend] = (await kdfRoot(crypto, rootKey, dhSend)).map(track) as [Bytes, Bytes];
      }
    } catch (error) {
      for (const b of created) b.fill(0);
      throw error;
    }

    // Commit. Zero what the new state no longer holds, and the draft's intermediates.
    const kept: (Bytes | null)[] = [rootKey, chainRecv, chainSend, selfPair.privateKey];
    for (const [, k] of newSkipped) kept.push(k);
    const keep = kept.length > 16 ? new Set(kept) : kept;
    const isKept = (b: Bytes | null) => (keep instanceof Set ? keep.has(b) : keep.includes(b));
    // zeroize also lets a native backend drop the key object it cached for a replaced private key.
    for (const old of [s.rootKey, s.chainKeyRecv, s.chainKeySend, s.dhSelfPrivate]) if (old && !isKept(old)) crypto.zeroize(old);
    for (const b of created) if (!isKept(b)) b.fill(0);
    s.dhRemotePublic = remote;
    s.rootKey = rootKey;
    s.chainKeyRecv = chainRecv;
    s.chainKeySend = chainSend;
    s.recvMessageNumber = recvN;
    s.sendMessageNumber = sendN;
    s.previousSendChainLength = prevN;
    s.dhSelfPrivate = selfPair.privateKey;
    s.dhSelfPublic = selfPair.publicKey;
    for (const [id, key] of newSkipped) s.skippedKeys.set(id, key);
    for (const [id, key] of s.skippedKeys) {
      if (s.skippedKeys.size <= s.maxSkippedKeys) break;
      key.fill(0);
      s.skippedKeys.delete(id);
    }
    return plaintext;
  }
}

function checkOrZero(check: PlaintextCheck, plaintext: Bytes): void {
  try {
    check(plaintext);
  } catch (error) {
    plaintext.fill(0);
    throw error;
  }
}
