import { getDefaultCryptoProvider, type CryptoProvider, type X25519KeyPair } from '../crypto/index.js';
import { concatBytes, copyBytes, type Bytes } from '../encoding.js';
import { InvalidKeyError, InvalidMessageError, RatchetStateError } from '../errors.js';
import { checkIntegerOption } from '../options.js';
import { Redacted, type Described } from '../redacted.js';
import { EncryptedMessage, encodeHeaderInto } from '../wire/encrypted-message.js';
import { HEADER_LENGTH, LIMITS, NONCE_LENGTH, TAG_LENGTH } from '../wire/limits.js';
import { kdfChain, kdfRoot } from './kdf.js';
import { ReceiveDraft } from './receive-draft.js';
import { MAX_SKIP_LIMIT, MAX_SKIPPED_KEYS_LIMIT, RatchetState, skippedKeyId } from './state.js';

const EMPTY = new Uint8Array(0);
/** The largest plaintext whose message the parsers accept: nonce and tag share `maxCiphertextBytes`. */
const MAX_PLAINTEXT_BYTES = LIMITS.maxCiphertextBytes - NONCE_LENGTH - TAG_LENGTH;

export interface RatchetOptions {
  crypto?: CryptoProvider;
  /** Most message keys one message may make us skip (default 100, at most 100,000). Stored in the state. */
  maxSkip?: number;
  /** Most skipped keys kept in total; the oldest are dropped first (default 2000, at most 1,000,000). Stored in the state. */
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

/** The bounds `RatchetState.fromDict` applies, so that no option makes a state it would refuse. */
export function checkRatchetOptions(options: RatchetOptions): void {
  checkIntegerOption('maxSkip', options.maxSkip, 0, MAX_SKIP_LIMIT);
  checkIntegerOption('maxSkippedKeys', options.maxSkippedKeys, 0, MAX_SKIPPED_KEYS_LIMIT);
}

/**
 * The Double Ratchet (AgentMesh v1 constants). Decryption works on a draft and commits only once
 * the AEAD tag verifies (and the caller's `PlaintextCheck`, if any, passes), and encryption
 * checks its input before the chain moves, so a failed call of any kind leaves the state exactly as
 * it was. Calls on one instance run one at a time, in call order.
 */
export class DoubleRatchet extends Redacted {
  readonly state: RatchetState;
  readonly #crypto: CryptoProvider;
  #tail: Promise<unknown> = Promise.resolve();
  #wiped = false;

  constructor(state: RatchetState, options: RatchetOptions = {}) {
    checkRatchetOptions(options);
    super('DoubleRatchet');
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
    // Before a key pair is drawn, so that a bad option leaves nothing behind.
    checkRatchetOptions(options);
    const crypto = options.crypto ?? getDefaultCryptoProvider();
    const pair = await crypto.x25519GenerateKeyPair();
    const dh = await crypto.x25519(pair.privateKey, params.remoteDhPublic);
    const [rootKey, chainKey] = await kdfRoot(crypto, params.sharedSecret, dh);
    dh.fill(0);
    const state = new RatchetState({
      dhSelfPrivate: pair.privateKey,
      dhSelfPublic: pair.publicKey,
      rootKey,
      sending: { kind: 'active', chainKey, messageNumber: 0 },
      receiving: { kind: 'remote-key', remoteKey: copyBytes(params.remoteDhPublic) },
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

  /**
   * Zeroes every key byte of the state, the private key through the provider (which also drops
   * the key object a native backend imported for it). The ratchet refuses any use afterwards.
   */
  wipe(): Promise<void> {
    return this.#exclusive(async () => {
      this.#wiped = true;
      this.state.wipe(this.#crypto);
    });
  }

  /** Counters and public-key ids only (what `String()`, `util.inspect` and `JSON.stringify` print). */
  describe(): Described {
    return { ...this.state.describe(), wiped: this.#wiped };
  }

  #exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(task, task);
    this.#tail = run.catch(() => undefined);
    return run;
  }

  async #encrypt(plaintext: Uint8Array, associatedData: Uint8Array): Promise<EncryptedMessage> {
    if (this.#wiped) throw new RatchetStateError('this ratchet was wiped');
    const s = this.state;
    const sending = s.sending;
    if (sending.kind === 'none') throw new RatchetStateError('no sending chain yet: the responder sends only after it has received');
    if (sending.messageNumber >= 0xffffffff) throw new RatchetStateError('sending chain exhausted');
    // Before the chain moves: a send that fails must not burn a message key.
    if (plaintext.length > MAX_PLAINTEXT_BYTES) {
      throw new InvalidMessageError(`plaintext larger than ${MAX_PLAINTEXT_BYTES} bytes (got ${plaintext.length})`);
    }
    const header = { dhPublicKey: s.dhSelfPublic, previousChainLength: s.previousSendChainLength, messageNumber: sending.messageNumber };
    const chain = kdfChain(this.#crypto, sending.chainKey);
    const [messageKey, nextChainKey] = chain instanceof Promise ? await chain : chain;
    let message: EncryptedMessage;
    try {
      const nonce = this.#crypto.randomBytes(NONCE_LENGTH);
      const aad = new Uint8Array(associatedData.length + HEADER_LENGTH);
      aad.set(associatedData, 0);
      encodeHeaderInto(aad, associatedData.length, header);
      const sealed = this.#crypto.aeadSeal(messageKey, nonce, plaintext, aad);
      message = new EncryptedMessage({ ...header, dhPublicKey: copyBytes(header.dhPublicKey) }, concatBytes(nonce, sealed));
    } catch (error) {
      nextChainKey.fill(0);
      throw error;
    } finally {
      messageKey.fill(0);
    }
    sending.chainKey.fill(0);
    s.sending = { kind: 'active', chainKey: nextChainKey, messageNumber: sending.messageNumber + 1 };
    return message;
  }

  async #decrypt(message: EncryptedMessage, associatedData: Uint8Array, check: PlaintextCheck | undefined): Promise<Bytes> {
    if (!(message instanceof EncryptedMessage)) throw new TypeError('decrypt expects an EncryptedMessage');
    if (this.#wiped) throw new RatchetStateError('this ratchet was wiped');
    const crypto = this.#crypto;
    const s = this.state;
    const aad = message.authenticatedData(associatedData);
    const nonce = message.ciphertext.subarray(0, NONCE_LENGTH);
    const sealed = message.ciphertext.subarray(NONCE_LENGTH);

    // A key kept for a skipped message opens it once and is dropped. The id is a hex string:
    // build it only when there are skipped keys to look up.
    if (s.skippedKeys.size > 0) {
      const id = skippedKeyId(message.header.dhPublicKey, message.header.messageNumber);
      const cached = s.skippedKeys.get(id);
      if (cached) {
        const plaintext = crypto.aeadOpen(cached, nonce, sealed, aad);
        if (check) checkOrZero(check, plaintext);
        s.skippedKeys.delete(id);
        cached.fill(0);
        return plaintext;
      }
    }

    // Draft → open → commit: nothing touches `s` until the AEAD tag has verified.
    const draft = new ReceiveDraft(s, crypto);
    let plaintext: Bytes;
    try {
      const key = draft.messageKey(message.header);
      plaintext = crypto.aeadOpen(key instanceof Promise ? await key : key, nonce, sealed, aad);
      // Before the next key pair is drawn, like a forgery: a refused message leaves no trace.
      if (check) checkOrZero(check, plaintext);
      if (draft.ratchetDue) await draft.ratchetSending();
    } catch (error) {
      draft.discard();
      throw error;
    }
    draft.commit();
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
