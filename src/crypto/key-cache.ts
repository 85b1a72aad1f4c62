import { sha256 } from '@noble/hashes/sha2.js';

/**
 * Imported-key caches for the native curve backends. Importing a private key into WebCrypto or
 * node:crypto costs far more than using it (OpenSSL 3 decodes PKCS#8 through its generic decoder
 * and derives the public key on import), and the ratchet uses each private key two or three times.
 *
 * Private keys are cached by the identity of the caller's Uint8Array, never by their bytes: no
 * secret string or copy is kept. Each entry holds a SHA-256 fingerprint of the bytes it was made
 * from, and a lookup whose array no longer hashes to it (the caller zeroed or reused it) drops
 * the entry and imports afresh, so a cached key is used only for the exact bytes it came from.
 * The cache is a small LRU, so the native key objects of keys the caller has finished with are
 * released after a bounded number of other imports; `forget` releases them at once.
 */
export class PrivateKeyCache<K> {
  readonly #max: number;
  readonly #entries = new Map<Uint8Array, { key: K; fingerprint: Uint8Array }>();

  constructor(max = 128) {
    this.#max = max;
  }

  get(bytes: Uint8Array): K | undefined {
    const entry = this.#entries.get(bytes);
    if (!entry) return undefined;
    if (!sameBytes(entry.fingerprint, sha256(bytes))) {
      this.#entries.delete(bytes);
      return undefined;
    }
    // Most recently used last.
    this.#entries.delete(bytes);
    this.#entries.set(bytes, entry);
    return entry.key;
  }

  set(bytes: Uint8Array, key: K): void {
    this.#entries.delete(bytes);
    this.#entries.set(bytes, { key, fingerprint: sha256(bytes) });
    while (this.#entries.size > this.#max) this.#entries.delete(this.#entries.keys().next().value!);
  }

  /** Whether an entry exists for this array, whatever its bytes are now. */
  has(bytes: Uint8Array): boolean {
    return this.#entries.has(bytes);
  }

  forget(bytes: Uint8Array): void {
    this.#entries.delete(bytes);
  }

  clear(): void {
    this.#entries.clear();
  }
}

/** The last few imported public keys, by content (public keys are not secret). */
export class PublicKeyCache<K> {
  readonly #max: number;
  readonly #entries: { bytes: Uint8Array; key: K }[] = [];

  constructor(max = 8) {
    this.#max = max;
  }

  get(bytes: Uint8Array): K | undefined {
    for (const e of this.#entries) if (sameBytes(e.bytes, bytes)) return e.key;
    return undefined;
  }

  set(bytes: Uint8Array, key: K): void {
    this.#entries.unshift({ bytes: new Uint8Array(bytes), key });
    if (this.#entries.length > this.#max) this.#entries.pop();
  }
}

/** Not constant-time: compares fingerprints and public keys only. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
