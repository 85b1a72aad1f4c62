import type { Bytes } from '../encoding.js';

export type MaybePromise<T> = T | Promise<T>;

export interface X25519KeyPair {
  /** 32 raw bytes as drawn from the random source (unclamped; X25519 clamps when used). */
  readonly privateKey: Bytes;
  readonly publicKey: Bytes;
}

/** Curve operations: X25519 and Ed25519. Implemented by noble or by native WebCrypto. */
export interface CurveBackend {
  readonly name: string;
  /** X25519(private, base point). */
  x25519PublicKey(privateKey: Uint8Array): MaybePromise<Bytes>;
  /** X25519(private, public). Throws `InvalidKeyError` for low-order public keys. */
  x25519(privateKey: Uint8Array, publicKey: Uint8Array): MaybePromise<Bytes>;
  ed25519PublicKey(seed: Uint8Array): MaybePromise<Bytes>;
  ed25519Sign(seed: Uint8Array, message: Uint8Array): MaybePromise<Bytes>;
  /**
   * The cofactorless equation [S]B = R + [k]A over the bytes given. The provider has already
   * checked the key and the signature's ranges (`ed25519-strict.ts`) before it calls this.
   */
  ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): MaybePromise<boolean>;
  /**
   * A fresh X25519 pair from the backend's own generator. Used only when the provider has no
   * injected random source (replayed randomness must go through `randomBytes`).
   */
  x25519GenerateKeyPair?(): MaybePromise<X25519KeyPair>;
  /** Drops whatever the backend cached for this private key (called by `zeroize`). */
  forget?(privateKey: Uint8Array): void;
  /** Whether the backend holds a key object imported for this very array (tests check that wiping released it). */
  holds?(privateKey: Uint8Array): boolean;
}

/** ChaCha20-Poly1305 (IETF, 12-byte nonce). Implemented by noble or by node:crypto. */
export interface AeadBackend {
  readonly name: string;
  /** Returns ciphertext || tag. */
  seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, associatedData: Uint8Array): Bytes;
  /** Throws `AuthenticationError` when the tag does not verify. */
  open(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, associatedData: Uint8Array): Bytes;
}

/** Keyed hashing: HMAC-SHA256 and HKDF-SHA256. Implemented by noble or by WebCrypto. */
export interface HashBackend {
  readonly name: string;
  hmacSha256(key: Uint8Array, data: Uint8Array): MaybePromise<Bytes>;
  hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): MaybePromise<Bytes>;
}

export type RandomSource = (length: number) => Uint8Array;

/**
 * The one seam through which the protocol touches primitives. Every method that may reach
 * WebCrypto returns a value or a Promise; callers always `await`.
 */
export interface CryptoProvider {
  /** e.g. `webcrypto-curves+noble-hashes`. */
  readonly name: string;
  randomBytes(length: number): Bytes;
  x25519GenerateKeyPair(): Promise<X25519KeyPair>;
  x25519PublicKey(privateKey: Uint8Array): MaybePromise<Bytes>;
  x25519(privateKey: Uint8Array, publicKey: Uint8Array): MaybePromise<Bytes>;
  ed25519PublicKey(seed: Uint8Array): MaybePromise<Bytes>;
  ed25519Sign(seed: Uint8Array, message: Uint8Array): MaybePromise<Bytes>;
  /**
   * False for anything the strict rule refuses (`ed25519-strict.ts`): a key that is not canonical or
   * not of prime order, S ≥ L, a non-canonical or identity R, or a signature that only a
   * cofactored equation accepts. Every backend gives the same answer (test/vectors-ed25519/).
   */
  ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): MaybePromise<boolean>;
  /**
   * Montgomery form of an Ed25519 public key. Throws `InvalidKeyError` unless it is a usable key:
   * canonical, on the curve, of prime order (`assertEd25519PublicKey`).
   */
  ed25519ToX25519Public(publicKey: Uint8Array): Bytes;
  /** Clamped X25519 scalar of an Ed25519 seed (libsodium's `sk_to_curve25519`). */
  ed25519ToX25519Private(seed: Uint8Array): Bytes;
  hmacSha256(key: Uint8Array, data: Uint8Array): MaybePromise<Bytes>;
  hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): MaybePromise<Bytes>;
  /** ChaCha20-Poly1305 (IETF, 12-byte nonce); returns ciphertext || tag. */
  aeadSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, associatedData: Uint8Array): Bytes;
  /** Throws `AuthenticationError` when the tag does not verify. */
  aeadOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, associatedData: Uint8Array): Bytes;
  constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean;
  zeroize(...buffers: (Uint8Array | null | undefined)[]): void;
}
