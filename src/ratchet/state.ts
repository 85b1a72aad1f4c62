import { fromHex, toHex, type Bytes } from '../encoding.js';
import { RatchetStateError } from '../errors.js';

export const DEFAULT_MAX_SKIP = 100;
export const DEFAULT_MAX_SKIPPED_KEYS = 2000;

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

export function skippedKeyId(dhPublicKey: Uint8Array, messageNumber: number): string {
  return `${toHex(dhPublicKey)}:${messageNumber}`;
}

const SKIPPED_ID = /^[0-9a-f]{64}:(0|[1-9][0-9]{0,9})$/;
const fail = (message: string) => new RatchetStateError(`invalid ratchet state: ${message}`);

/** Everything a Double Ratchet session holds. Mutated only by `DoubleRatchet` after authentication. */
export class RatchetState {
  dhSelfPrivate: Bytes;
  dhSelfPublic: Bytes;
  dhRemotePublic: Bytes | null;
  rootKey: Bytes;
  chainKeySend: Bytes | null;
  chainKeyRecv: Bytes | null;
  sendMessageNumber: number;
  recvMessageNumber: number;
  previousSendChainLength: number;
  /** `"<remote ratchet key hex>:<n>"` → message key, oldest first. */
  skippedKeys: Map<string, Bytes>;
  maxSkip: number;
  maxSkippedKeys: number;

  constructor(fields: {
    dhSelfPrivate: Bytes;
    dhSelfPublic: Bytes;
    dhRemotePublic?: Bytes | null;
    rootKey: Bytes;
    chainKeySend?: Bytes | null;
    chainKeyRecv?: Bytes | null;
    sendMessageNumber?: number;
    recvMessageNumber?: number;
    previousSendChainLength?: number;
    skippedKeys?: Map<string, Bytes>;
    maxSkip?: number;
    maxSkippedKeys?: number;
  }) {
    this.dhSelfPrivate = fields.dhSelfPrivate;
    this.dhSelfPublic = fields.dhSelfPublic;
    this.dhRemotePublic = fields.dhRemotePublic ?? null;
    this.rootKey = fields.rootKey;
    this.chainKeySend = fields.chainKeySend ?? null;
    this.chainKeyRecv = fields.chainKeyRecv ?? null;
    this.sendMessageNumber = fields.sendMessageNumber ?? 0;
    this.recvMessageNumber = fields.recvMessageNumber ?? 0;
    this.previousSendChainLength = fields.previousSendChainLength ?? 0;
    this.skippedKeys = fields.skippedKeys ?? new Map();
    this.maxSkip = fields.maxSkip ?? DEFAULT_MAX_SKIP;
    this.maxSkippedKeys = fields.maxSkippedKeys ?? DEFAULT_MAX_SKIPPED_KEYS;
  }

  toDict(): RatchetStateDict {
    const skipped: Record<string, string> = {};
    for (const [id, key] of this.skippedKeys) skipped[id] = toHex(key);
    const dict: RatchetStateDict = {
      dh_self_private: toHex(this.dhSelfPrivate),
      dh_self_public: toHex(this.dhSelfPublic),
      dh_remote_public: this.dhRemotePublic ? toHex(this.dhRemotePublic) : null,
      root_key: toHex(this.rootKey),
      chain_key_send: this.chainKeySend ? toHex(this.chainKeySend) : null,
      chain_key_recv: this.chainKeyRecv ? toHex(this.chainKeyRecv) : null,
      send_message_number: this.sendMessageNumber,
      recv_message_number: this.recvMessageNumber,
      previous_send_chain_length: this.previousSendChainLength,
      skipped_keys: skipped,
    };
    if (this.maxSkip !== DEFAULT_MAX_SKIP) dict.max_skip = this.maxSkip;
    if (this.maxSkippedKeys !== DEFAULT_MAX_SKIPPED_KEYS) dict.max_skipped_keys = this.maxSkippedKeys;
    return dict;
  }

  /** Validates every field; a corrupt record throws `RatchetStateError` and yields nothing. */
  static fromDict(input: unknown): RatchetState {
    if (typeof input !== 'object' || input === null || Array.isArray(input)) throw fail('not an object');
    const d = input as Record<string, unknown>;
    const key = (field: string, nullable: boolean): Bytes | null => {
      const v = d[field];
      if (v === null && nullable) return null;
      if (typeof v !== 'string' || !/^[0-9a-fA-F]{64}$/.test(v)) throw fail(`${field} must be 64 hex characters`);
      return fromHex(v);
    };
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
    const maxSkippedKeys = limit('max_skipped_keys', DEFAULT_MAX_SKIPPED_KEYS, 1_000_000);
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
    return new RatchetState({
      dhSelfPrivate: key('dh_self_private', false)!,
      dhSelfPublic: key('dh_self_public', false)!,
      dhRemotePublic: key('dh_remote_public', true),
      rootKey: key('root_key', false)!,
      chainKeySend: key('chain_key_send', true),
      chainKeyRecv: key('chain_key_recv', true),
      sendMessageNumber: count('send_message_number'),
      recvMessageNumber: count('recv_message_number'),
      previousSendChainLength: count('previous_send_chain_length'),
      skippedKeys,
      maxSkip: limit('max_skip', DEFAULT_MAX_SKIP, 100_000),
      maxSkippedKeys,
    });
  }

  /** A deep copy: no byte array is shared with the original. */
  clone(): RatchetState {
    const copy = (b: Bytes | null) => (b ? (new Uint8Array(b) as Bytes) : null);
    const skipped = new Map<string, Bytes>();
    for (const [id, k] of this.skippedKeys) skipped.set(id, copy(k)!);
    return new RatchetState({
      dhSelfPrivate: copy(this.dhSelfPrivate)!,
      dhSelfPublic: copy(this.dhSelfPublic)!,
      dhRemotePublic: copy(this.dhRemotePublic),
      rootKey: copy(this.rootKey)!,
      chainKeySend: copy(this.chainKeySend),
      chainKeyRecv: copy(this.chainKeyRecv),
      sendMessageNumber: this.sendMessageNumber,
      recvMessageNumber: this.recvMessageNumber,
      previousSendChainLength: this.previousSendChainLength,
      skippedKeys: skipped,
      maxSkip: this.maxSkip,
      maxSkippedKeys: this.maxSkippedKeys,
    });
  }

  /** Zeroes every secret byte and forgets the skipped keys. */
  wipe(): void {
    for (const b of [this.dhSelfPrivate, this.rootKey, this.chainKeySend, this.chainKeyRecv]) b?.fill(0);
    for (const k of this.skippedKeys.values()) k.fill(0);
    this.skippedKeys.clear();
  }
}
