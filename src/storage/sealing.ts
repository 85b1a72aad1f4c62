import { fromUtf8, utf8, type Bytes } from '../encoding.js';
import { CorruptRecordError, StorageError } from './errors.js';

/**
 * Wraps secrets at rest with AES-256-GCM under a non-extractable WebCrypto key. The key itself is
 * stored next to the data as a CryptoKey object (structured-cloneable, never exportable), so a dump
 * of the stored values yields ciphertext and an opaque handle, not key bytes.
 */

/** What a sealed secret looks like at rest. */
export interface SealedValue {
  /** 12-byte random nonce. */
  readonly iv: Uint8Array;
  /** Ciphertext || 16-byte tag. */
  readonly data: Uint8Array;
}

const IV_LENGTH = 12;
const TAG_LENGTH = 16;
const AAD_PREFIX = 'agentmesh/seal/v1|';

function subtle(): SubtleCrypto {
  const s = globalThis.crypto?.subtle;
  if (!s) throw new StorageError('WebCrypto (crypto.subtle) is needed to wrap keys at rest and is not available here');
  return s;
}

export async function generateWrappingKey(): Promise<CryptoKey> {
  return subtle().generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
}

export function isUsableWrappingKey(value: unknown): value is CryptoKey {
  if (typeof CryptoKey === 'undefined' || !(value instanceof CryptoKey)) return false;
  const algorithm = value.algorithm as AesKeyAlgorithm;
  return (
    value.type === 'secret' &&
    algorithm.name === 'AES-GCM' &&
    algorithm.length === 256 &&
    value.usages.includes('encrypt') &&
    value.usages.includes('decrypt')
  );
}

export class RecordSealer {
  readonly #key: CryptoKey;

  constructor(key: CryptoKey) {
    if (!isUsableWrappingKey(key)) throw new StorageError('the wrapping key must be an AES-256-GCM CryptoKey for encrypt and decrypt');
    this.#key = key;
  }

  /**
   * `context` names where the value lives (store and key); it is authenticated, so a sealed value
   * copied to another record does not open there.
   */
  async seal(plaintext: Uint8Array, context: string): Promise<SealedValue> {
    const iv = globalThis.crypto.getRandomValues(new Uint8Array(IV_LENGTH));
    const data = await subtle().encrypt(
      { name: 'AES-GCM', iv, additionalData: utf8(AAD_PREFIX + context) },
      this.#key,
      plaintext as Bytes,
    );
    return { iv, data: new Uint8Array(data) };
  }

  /** Throws `CorruptRecordError` for anything that is not a value sealed here for `context`. */
  async open(sealed: unknown, context: string, maxPlaintextBytes: number): Promise<Bytes> {
    if (typeof sealed !== 'object' || sealed === null) throw new CorruptRecordError(`${context}: the wrapped value is missing`);
    const { iv, data } = sealed as Record<string, unknown>;
    if (!(iv instanceof Uint8Array) || iv.length !== IV_LENGTH || !(data instanceof Uint8Array) || data.length < TAG_LENGTH) {
      throw new CorruptRecordError(`${context}: the wrapped value is malformed`);
    }
    if (data.length > maxPlaintextBytes + TAG_LENGTH) throw new CorruptRecordError(`${context}: the wrapped value is too large`);
    try {
      const plain = await subtle().decrypt(
        { name: 'AES-GCM', iv: iv as Bytes, additionalData: utf8(AAD_PREFIX + context) },
        this.#key,
        data as Bytes,
      );
      return new Uint8Array(plain) as Bytes;
    } catch (cause) {
      throw new CorruptRecordError(`${context}: the wrapped value does not unwrap (tampered, moved, or sealed under another key)`, { cause });
    }
  }

  async sealJson(value: unknown, context: string): Promise<SealedValue> {
    const bytes = utf8(JSON.stringify(value));
    try {
      return await this.seal(bytes, context);
    } finally {
      bytes.fill(0);
    }
  }

  async openJson(sealed: unknown, context: string, maxChars: number): Promise<unknown> {
    // UTF-8 takes at most 3 bytes per UTF-16 unit.
    const bytes = await this.open(sealed, context, maxChars * 3);
    try {
      const text = fromUtf8(bytes);
      if (text.length > maxChars) throw new CorruptRecordError(`${context}: the wrapped JSON is larger than ${maxChars} characters`);
      return JSON.parse(text) as unknown;
    } catch (cause) {
      if (cause instanceof CorruptRecordError) throw cause;
      throw new CorruptRecordError(`${context}: the wrapped value is not JSON`, { cause });
    } finally {
      bytes.fill(0);
    }
  }
}
