import type { CryptoProvider, X25519KeyPair } from '../crypto/index.js';
import { copyBytes, type Bytes } from '../encoding.js';
import { NoReceivingChainError, ReplayedMessageError, TooManySkippedMessagesError } from '../errors.js';
import type { MessageHeader } from '../wire/encrypted-message.js';
import { kdfChain, kdfRoot } from './kdf.js';
import { skippedKeyId, type RatchetState, type ReceivingChain, type SendingChain } from './state.js';

type ActiveReceiving = Extract<ReceivingChain, { kind: 'active' }>;

/**
 * What one decryption changes, worked out beside the state (as vodozemac's `find_message_key`
 * in `receiver_chain.rs` does); `DoubleRatchet.decrypt` opens the message in between and decides.
 * It owns every key it creates (`track`): `discard` zeroes them all; `commit` moves the new chains
 * into the state and zeroes what neither holds any longer.
 */
export class ReceiveDraft {
  readonly #state: RatchetState;
  readonly #crypto: CryptoProvider;
  /** Every key derived here except the skipped message keys, which go to `#skipped`. */
  readonly #created: Bytes[] = [];
  readonly #skipped: [string, Bytes][] = [];
  #rootKey: Bytes;
  #receiving: ReceivingChain;
  #sending: SendingChain;
  #previousSendChainLength: number;
  /** Set when the message brings a new remote ratchet key: our side of the DH step is due. */
  #newRemoteKey: Bytes | null = null;
  /** Our next ratchet pair, drawn only after authentication. */
  #selfPair: X25519KeyPair | null = null;

  constructor(state: RatchetState, crypto: CryptoProvider) {
    this.#state = state;
    this.#crypto = crypto;
    this.#rootKey = state.rootKey;
    this.#receiving = state.receiving;
    this.#sending = state.sending;
    this.#previousSendChainLength = state.previousSendChainLength;
  }

  #track<T extends Bytes>(bytes: T): T {
    this.#created.push(bytes);
    return bytes;
  }

  /**
   * The key of the message `header` names: the receiving chain steps up to it, keeping the keys
   * it passes, after a DH step first when the header brings a new remote key. Throws, typed, for
   * a replay, a gap past `maxSkip`, a low-order key, or a chain we do not have. The next message
   * of the current chain, with a synchronous backend, takes no Promise (no microtask turn).
   */
  messageKey(header: MessageHeader): Bytes | Promise<Bytes> {
    const { dhPublicKey, messageNumber } = header;
    const current = this.#receiving;
    if (current.kind === 'none' || !this.#crypto.constantTimeEqual(dhPublicKey, current.remoteKey)) return this.#newChainKey(header);
    if (current.kind === 'remote-key') throw new NoReceivingChainError(messageNumber);
    if (messageNumber < current.messageNumber) {
      throw new ReplayedMessageError(`message ${messageNumber} of this chain was already received (or its key was discarded)`);
    }
    if (current.messageNumber < messageNumber) return this.#skipTo(current, messageNumber).then((chain) => this.#step(chain));
    return this.#step(current);
  }

  /** Whether the message brought a new remote key, so that `ratchetSending` is due once it authenticates. */
  get ratchetDue(): boolean {
    return this.#newRemoteKey !== null;
  }

  /**
   * After authentication only: for a new remote key, our next ratchet pair and the sending chain
   * from it. A forgery therefore draws no randomness and cannot change which keys come later.
   */
  async ratchetSending(): Promise<void> {
    const remoteKey = this.#newRemoteKey;
    if (!remoteKey) return;
    const crypto = this.#crypto;
    const pair = await crypto.x25519GenerateKeyPair();
    this.#selfPair = pair;
    const dh = this.#track(await crypto.x25519(pair.privateKey, remoteKey));
    const [rootKey, chainKey] = await kdfRoot(crypto, this.#rootKey, dh);
    this.#rootKey = this.#track(rootKey);
    this.#previousSendChainLength = this.#sending.kind === 'active' ? this.#sending.messageNumber : 0;
    this.#sending = { kind: 'active', chainKey: this.#track(chainKey), messageNumber: 0 };
  }

  /** Zeroes everything the draft created; the state is untouched. */
  discard(): void {
    for (const b of this.#created) b.fill(0);
    for (const [, k] of this.#skipped) k.fill(0);
    // The new private key may already sit in a native backend's cache.
    if (this.#selfPair) this.#crypto.zeroize(this.#selfPair.privateKey);
  }

  /** Moves the draft into the state, then zeroes what the state no longer holds and the draft's intermediates. */
  commit(): void {
    const s = this.#state;
    const crypto = this.#crypto;
    const rootKey = this.#rootKey;
    const receiving = this.#receiving;
    const sending = this.#sending;
    const recvKey = receiving.kind === 'active' ? receiving.chainKey : null;
    const sendKey = sending.kind === 'active' ? sending.chainKey : null;
    // zeroize also lets a native backend drop the key object it cached for a replaced private key.
    if (s.rootKey !== rootKey) crypto.zeroize(s.rootKey);
    if (s.receiving.kind === 'active' && s.receiving.chainKey !== recvKey) crypto.zeroize(s.receiving.chainKey);
    if (s.sending.kind === 'active' && s.sending.chainKey !== sendKey) crypto.zeroize(s.sending.chainKey);
    for (const b of this.#created) if (b !== rootKey && b !== recvKey && b !== sendKey) b.fill(0);
    s.rootKey = rootKey;
    s.receiving = receiving;
    s.sending = sending;
    s.previousSendChainLength = this.#previousSendChainLength;
    if (this.#selfPair) {
      crypto.zeroize(s.dhSelfPrivate);
      s.dhSelfPrivate = this.#selfPair.privateKey;
      s.dhSelfPublic = this.#selfPair.publicKey;
    }
    const skipped = s.skippedKeys;
    for (const [id, key] of this.#skipped) skipped.set(id, key);
    for (const [id, key] of skipped) {
      if (skipped.size <= s.maxSkippedKeys) break;
      key.fill(0);
      skipped.delete(id);
    }
  }

  /** A new remote key: the current chain ends at `pn` (its keys kept for messages still to come), then a DH step. */
  async #newChainKey(header: MessageHeader): Promise<Bytes> {
    const current = this.#receiving;
    if (current.kind === 'active') await this.#skipTo(current, header.previousChainLength);
    const remoteKey = copyBytes(header.dhPublicKey);
    const dh = this.#track(await this.#crypto.x25519(this.#state.dhSelfPrivate, remoteKey));
    const [rootKey, chainKey] = await kdfRoot(this.#crypto, this.#rootKey, dh);
    this.#rootKey = this.#track(rootKey);
    this.#newRemoteKey = remoteKey;
    let chain: ActiveReceiving = { kind: 'active', remoteKey, chainKey: this.#track(chainKey), messageNumber: 0 };
    if (header.messageNumber > 0) chain = await this.#skipTo(chain, header.messageNumber);
    return this.#step(chain);
  }

  /** The key of `chain`'s next message; the draft's receiving chain moves past it. */
  #step(chain: ActiveReceiving): Bytes | Promise<Bytes> {
    const step = kdfChain(this.#crypto, chain.chainKey);
    if (step instanceof Promise) return step.then(([messageKey, next]) => this.#stepped(chain, messageKey, next));
    return this.#stepped(chain, step[0], step[1]);
  }

  #stepped(chain: ActiveReceiving, messageKey: Bytes, next: Bytes): Bytes {
    this.#track(messageKey);
    this.#receiving = { kind: 'active', remoteKey: chain.remoteKey, chainKey: this.#track(next), messageNumber: chain.messageNumber + 1 };
    return messageKey;
  }

  /** Steps `chain` to message `until`, keeping each key passed; refuses a gap past `maxSkip`. */
  async #skipTo(chain: ActiveReceiving, until: number): Promise<ActiveReceiving> {
    let { chainKey, messageNumber } = chain;
    if (until - messageNumber > this.#state.maxSkip) {
      throw new TooManySkippedMessagesError(`too many skipped messages (${until - messageNumber} > ${this.#state.maxSkip})`);
    }
    while (messageNumber < until) {
      const step = kdfChain(this.#crypto, chainKey);
      const [messageKey, next] = step instanceof Promise ? await step : step;
      this.#skipped.push([skippedKeyId(chain.remoteKey, messageNumber), messageKey]);
      chainKey = this.#track(next);
      messageNumber += 1;
    }
    return { kind: 'active', remoteKey: chain.remoteKey, chainKey, messageNumber };
  }
}
