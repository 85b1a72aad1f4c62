import type { CryptoProvider } from '../crypto/index.js';
import { copyBytes, fromHex, toHex, type Bytes } from '../encoding.js';
import { RatchetStateError } from '../errors.js';
import { publicKeyId, Redacted, type Described } from '../redacted.js';

/**
 * What one Double Ratchet session holds, and its persisted form (`toDict`/`fromDict`, the
 * reference's JSON, fixed by vectors/README.md). Only `DoubleRatchet` changes a state; this file
 * holds, copies, persists, wipes and prints it. The chains are states of their own, as vodozemac's
 * `DoubleRatchetState` and `ReceiverChain` are, so no code can read a chain that does not exist.
 */

export const DEFAULT_MAX_SKIP = 100;
export const DEFAULT_MAX_SKIPPED_KEYS = 2000;
/** Largest `maxSkip` accepted, by `fromDict` and by `DoubleRatchet`'s options alike (one message may cost this many KDF steps). */
export const MAX_SKIP_LIMIT = 100_000;
/** Largest `maxSkippedKeys` accepted, by `fromDict` and by `DoubleRatchet`'s options alike (memory held per session). */
export const MAX_SKIPPED_KEYS_LIMIT = 1_000_000;

/** `RatchetState.toDict()`: the reference's field names and order; byte fields as lowercase hex. */
export interface RatchetStateDict {
  dh_self_private: string;
  dh_self_public: string;
  dh_remote_public: string | null;
  root_key: string;
  chain_key_send: string | null;
  chain_key_recv: string | null;
  send_message_number: number;
  recv_message_number: number;
  previous_send_chain_length: number;
  skipped_keys: Record<string, string>;
  /** Present only when not the default; the reference ignores it. */
  max_skip?: number;
  /** Present only when not the default; the reference ignores it. */
  max_skipped_keys?: number;
}

/** The chain we send on, with the number of its next message. */
export type SendingChain =
  /** The responder, until the first message has arrived: it has nothing to send on yet. */
  | { readonly kind: 'none' }
  | { readonly kind: 'active'; readonly chainKey: Bytes; readonly messageNumber: number };

/** The chain we receive on, with the remote ratchet key it belongs to and the number of its next message. */
export type ReceivingChain =
  /** The responder, until the first message has arrived: no remote ratchet key yet. */
  | { readonly kind: 'none' }
  /**
   * The initiator, until the first answer: it knows the remote key (the responder's signed
   * pre-key) but no chain comes from it. The responder's first message brings a new key.
   */
  | { readonly kind: 'remote-key'; readonly remoteKey: Bytes }
  | { readonly kind: 'active'; readonly remoteKey: Bytes; readonly chainKey: Bytes; readonly messageNumber: number };

export const NO_SENDING_CHAIN: SendingChain = Object.freeze({ kind: 'none' });
export const NO_RECEIVING_CHAIN: ReceivingChain = Object.freeze({ kind: 'none' });

export function skippedKeyId(dhPublicKey: Uint8Array, messageNumber: number): string {
  return `${toHex(dhPublicKey)}:${messageNumber}`;
}

const SKIPPED_ID = /^[0-9a-f]{64}:(0|[1-9][0-9]{0,9})$/;
const fail = (message: string) => new RatchetStateError(`invalid ratchet state: ${message}`);

/** Everything a Double Ratchet session holds. Mutated only by `DoubleRatchet` after authentication. */
export class RatchetState extends Redacted {
  dhSelfPrivate: Bytes;
  dhSelfPublic: Bytes;
  rootKey: Bytes;
  sending: SendingChain;
  receiving: ReceivingChain;
  previousSendChainLength: number;
  /** `"<remote ratchet key hex>:<n>"` → message key, oldest first. */
  skippedKeys: Map<string, Bytes>;
  maxSkip: number;
  maxSkippedKeys: number;

  constructor(fields: {
    dhSelfPrivate: Bytes;
    dhSelfPublic: Bytes;
    rootKey: Bytes;
    sending?: SendingChain;
    receiving?: ReceivingChain;
    previousSendChainLength?: number;
    skippedKeys?: Map<string, Bytes>;
    maxSkip?: number;
    maxSkippedKeys?: number;
  }) {
    super('RatchetState');
    this.dhSelfPrivate = fields.dhSelfPrivate;
    this.dhSelfPublic = fields.dhSelfPublic;
    this.rootKey = fields.rootKey;
    this.sending = fields.sending ?? NO_SENDING_CHAIN;
    this.receiving = fields.receiving ?? NO_RECEIVING_CHAIN;
    this.previousSendChainLength = fields.previousSendChainLength ?? 0;
    this.skippedKeys = fields.skippedKeys ?? new Map();
    this.maxSkip = fields.maxSkip ?? DEFAULT_MAX_SKIP;
    this.maxSkippedKeys = fields.maxSkippedKeys ?? DEFAULT_MAX_SKIPPED_KEYS;
  }

  // Read-only views in the reference's terms (the fields of `toDict`).

  get dhRemotePublic(): Bytes | null {
    return this.receiving.kind === 'none' ? null : this.receiving.remoteKey;
  }

  get chainKeySend(): Bytes | null {
    return this.sending.kind === 'active' ? this.sending.chainKey : null;
  }

  get chainKeyRecv(): Bytes | null {
    return this.receiving.kind === 'active' ? this.receiving.chainKey : null;
  }

  get sendMessageNumber(): number {
    return this.sending.kind === 'active' ? this.sending.messageNumber : 0;
  }

  get recvMessageNumber(): number {
    return this.receiving.kind === 'active' ? this.receiving.messageNumber : 0;
  }

  toDict(): RatchetStateDict {
    const skipped: Record<string, string> = {};
    for (const [id, key] of this.skippedKeys) skipped[id] = toHex(key);
    const { sending, receiving } = this;
    const dict: RatchetStateDict = {
      dh_self_private: toHex(this.dhSelfPrivate),
      dh_self_public: toHex(this.dhSelfPublic),
      dh_remote_public: receiving.kind === 'none' ? null : toHex(receiving.remoteKey),
      root_key: toHex(this.rootKey),
      chain_key_send: sending.kind === 'active' ? toHex(sending.chainKey) : null,
      chain_key_recv: receiving.kind === 'active' ? toHex(receiving.chainKey) : null,
      send_message_number: sending.kind === 'active' ? sending.messageNumber : 0,
      recv_message_number: receiving.kind === 'active' ? receiving.messageNumber : 0,
      previous_send_chain_length: this.previousSendChainLength,
      skipped_keys: skipped,
    };
    if (this.maxSkip !== DEFAULT_MAX_SKIP) dict.max_skip = this.maxSkip;
    if (this.maxSkippedKeys !== DEFAULT_MAX_SKIPPED_KEYS) dict.max_skipped_keys = this.maxSkippedKeys;
    return dict;
  }

  /**
   * Validates every field; a corrupt record throws `RatchetStateError` and yields nothing. Counters
   * of a chain that does not exist must be 0, and a receiving chain needs its remote key: no
   * ratchet writes anything else, and `toDict` of what is accepted gives back the same text.
   */
  static fromDict(input: unknown): RatchetState {
    if (typeof input !== 'object' || input === null || Array.isArray(input)) throw fail('not an object');
    const d = input as Record<string, unknown>;
    const key = (field: string): Bytes => {
      const v = d[field];
      if (typeof v !== 'string' || !/^[0-9a-fA-F]{64}$/.test(v)) throw fail(`${field} must be 64 hex characters`);
      return fromHex(v);
    };
    const optionalKey = (field: string): Bytes | null => (d[field] === null ? null : key(field));
    const count = (field: string): number => {
      const v = d[field];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) throw fail(`${field} must be a uint32`);
      return v;
    };
    const limit = (field: string, fallback: number, max: number): number => {
      const v = d[field];
      if (v === undefined) return fallback;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) throw fail(`${field} must be an integer from 0 to ${max}`);
      return v;
    };
    const maxSkippedKeys = limit('max_skipped_keys', DEFAULT_MAX_SKIPPED_KEYS, MAX_SKIPPED_KEYS_LIMIT);
    const rawSkipped = d.skipped_keys ?? {};
    if (typeof rawSkipped !== 'object' || rawSkipped === null || Array.isArray(rawSkipped)) throw fail('skipped_keys must be an object');
    const entries = Object.entries(rawSkipped as Record<string, unknown>);
    if (entries.length > maxSkippedKeys) throw fail(`more than ${maxSkippedKeys} skipped keys`);
    const skippedKeys = new Map<string, Bytes>();
    for (const [id, mk] of entries) {
      if (!SKIPPED_ID.test(id) || Number(id.split(':')[1]) > 0xffffffff) throw fail(`bad skipped key id ${JSON.stringify(id.slice(0, 80))}`);
      if (typeof mk !== 'string' || !/^[0-9a-fA-F]{64}$/.test(mk)) throw fail(`skipped key ${id} must be 64 hex characters`);
      skippedKeys.set(id, fromHex(mk));
    }
    const dhSelfPrivate = key('dh_self_private');
    const dhSelfPublic = key('dh_self_public');
    const remoteKey = optionalKey('dh_remote_public');
    const rootKey = key('root_key');
    const sendKey = optionalKey('chain_key_send');
    const recvKey = optionalKey('chain_key_recv');
    const sendN = count('send_message_number');
    const recvN = count('recv_message_number');
    if (sendKey === null && sendN !== 0) throw fail(`send_message_number must be 0 without chain_key_send (got ${sendN})`);
    if (recvKey === null && recvN !== 0) throw fail(`recv_message_number must be 0 without chain_key_recv (got ${recvN})`);
    if (recvKey !== null && remoteKey === null) throw fail('chain_key_recv needs dh_remote_public');
    return new RatchetState({
      dhSelfPrivate,
      dhSelfPublic,
      rootKey,
      sending: sendKey ? { kind: 'active', chainKey: sendKey, messageNumber: sendN } : NO_SENDING_CHAIN,
      receiving: !remoteKey
        ? NO_RECEIVING_CHAIN
        : recvKey
          ? { kind: 'active', remoteKey, chainKey: recvKey, messageNumber: recvN }
          : { kind: 'remote-key', remoteKey },
      previousSendChainLength: count('previous_send_chain_length'),
      skippedKeys,
      maxSkip: limit('max_skip', DEFAULT_MAX_SKIP, MAX_SKIP_LIMIT),
      maxSkippedKeys,
    });
  }

  /** A deep copy: no byte array is shared with the original. */
  clone(): RatchetState {
    const { sending: s, receiving: r } = this;
    const skipped = new Map<string, Bytes>();
    for (const [id, k] of this.skippedKeys) skipped.set(id, copyBytes(k));
    return new RatchetState({
      dhSelfPrivate: copyBytes(this.dhSelfPrivate),
      dhSelfPublic: copyBytes(this.dhSelfPublic),
      rootKey: copyBytes(this.rootKey),
      sending: s.kind === 'active' ? { ...s, chainKey: copyBytes(s.chainKey) } : s,
      receiving:
        r.kind === 'active'
          ? { ...r, remoteKey: copyBytes(r.remoteKey), chainKey: copyBytes(r.chainKey) }
          : r.kind === 'remote-key'
            ? { ...r, remoteKey: copyBytes(r.remoteKey) }
            : r,
      previousSendChainLength: this.previousSendChainLength,
      skippedKeys: skipped,
      maxSkip: this.maxSkip,
      maxSkippedKeys: this.maxSkippedKeys,
    });
  }

  /**
   * Zeroes every secret byte through the provider's `zeroize`, which also drops the key object a
   * native backend imported for the ratchet private key, and forgets the skipped keys. The chains
   * keep their shape: the reference's `close()` leaves zeroed chain keys, not nulls.
   */
  wipe(crypto: Pick<CryptoProvider, 'zeroize'>): void {
    crypto.zeroize(this.dhSelfPrivate, this.rootKey, this.chainKeySend, this.chainKeyRecv);
    // One call per key: up to a million skipped keys would overflow an argument list.
    for (const k of this.skippedKeys.values()) crypto.zeroize(k);
    this.skippedKeys.clear();
  }

  /** Counters and public-key ids only: `String()`, `util.inspect` and `JSON.stringify` print this; persist with `toDict()`. */
  describe(): Described {
    const { sending: s, receiving: r } = this;
    return {
      ratchetKey: publicKeyId(this.dhSelfPublic),
      remoteKey: publicKeyId(this.dhRemotePublic),
      sending: s.kind === 'active' ? `active #${s.messageNumber}` : s.kind,
      receiving: r.kind === 'active' ? `active #${r.messageNumber}` : r.kind,
      previousSendChainLength: this.previousSendChainLength,
      skippedKeys: this.skippedKeys.size,
    };
  }
}
