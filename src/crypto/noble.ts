import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { equalBytes } from '@noble/ciphers/utils.js';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 as nobleSha256, sha512 } from '@noble/hashes/sha2.js';
import { bytesToNumberLE, concatBytes } from '@noble/curves/utils.js';
import type { Bytes } from '../encoding.js';
import { AuthenticationError, InvalidKeyError } from '../errors.js';
import type { AeadBackend, CurveBackend, HashBackend } from './provider.js';

export const nobleCurves: CurveBackend = {
  name: 'noble-curves',
  x25519PublicKey(privateKey) {
    return guardDh(() => x25519.getPublicKey(privateKey));
  },
  x25519(privateKey, publicKey) {
    return guardDh(() => x25519.getSharedSecret(privateKey, publicKey));
  },
  ed25519PublicKey(seed) {
    return ed25519.getPublicKey(seed) as Bytes;
  },
  ed25519Sign(seed, message) {
    return ed25519.sign(message, seed) as Bytes;
  },
  ed25519Verify: verifyCofactorless,
};

const { Point } = ed25519;

/**
 * RFC 8032 §5.1.7 with the cofactorless equation [S]B = R + [k]A, which node:crypto, WebCrypto and
 * workerd check (they compare R's bytes); noble's own `verify` multiplies by the cofactor and so
 * accepts R with a small-order component that the others refuse. Points are decoded strictly
 * (y < p); the key checks of the rule are the provider's (`ed25519-strict.ts`).
 */
function verifyCofactorless(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  try {
    const r = signature.subarray(0, 32);
    const s = bytesToNumberLE(signature.subarray(32, 64));
    if (s >= Point.Fn.ORDER) return false;
    const A = Point.fromBytes(publicKey, false);
    const R = Point.fromBytes(r, false);
    const k = Point.Fn.create(bytesToNumberLE(sha512(concatBytes(r, publicKey, message))));
    return Point.BASE.multiplyUnsafe(s).equals(R.add(A.multiplyUnsafe(k)));
  } catch {
    return false;
  }
}

export const nobleHashes: HashBackend = {
  name: 'noble-hashes',
  hmacSha256(key, data) {
    return hmac(nobleSha256, key, data) as Bytes;
  },
  hkdfSha256(ikm, salt, info, length) {
    return hkdf(nobleSha256, ikm, salt, info, length) as Bytes;
  },
};

export function sha256(data: Uint8Array): Bytes {
  return nobleSha256(data) as Bytes;
}

export function ed25519ToX25519Public(publicKey: Uint8Array): Bytes {
  if (publicKey.length !== 32) throw new InvalidKeyError(`Ed25519 public key must be 32 bytes, got ${publicKey.length}`);
  try {
    return ed25519.utils.toMontgomery(publicKey) as Bytes;
  } catch (cause) {
    throw new InvalidKeyError(`not a valid Ed25519 public key: ${(cause as Error).message}`);
  }
}

export function ed25519ToX25519Private(seed: Uint8Array): Bytes {
  if (seed.length !== 32) throw new InvalidKeyError(`Ed25519 seed must be 32 bytes, got ${seed.length}`);
  return ed25519.utils.toMontgomerySecret(seed) as Bytes;
}

export function aeadSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, associatedData: Uint8Array): Bytes {
  return chacha20poly1305(key, nonce, associatedData).encrypt(plaintext) as Bytes;
}

export function aeadOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, associatedData: Uint8Array): Bytes {
  if (sealed.length < 16) throw new AuthenticationError('ciphertext is shorter than the 16-byte tag');
  try {
    return chacha20poly1305(key, nonce, associatedData).decrypt(sealed) as Bytes;
  } catch {
    throw new AuthenticationError();
  }
}

export const nobleAead: AeadBackend = { name: 'noble-aead', seal: aeadSeal, open: aeadOpen };

export const constantTimeEqual = (a: Uint8Array, b: Uint8Array): boolean => equalBytes(a, b);

function guardDh(run: () => Uint8Array): Bytes {
  let out: Uint8Array;
  try {
    out = run();
  } catch (cause) {
    throw new InvalidKeyError(`X25519 failed: ${(cause as Error).message} (low-order or malformed key)`);
  }
  return rejectAllZero(out as Bytes);
}

/** RFC 7748 §6.1: an all-zero shared secret means the peer sent a low-order point. */
export function rejectAllZero(out: Bytes): Bytes {
  let acc = 0;
  for (let i = 0; i < out.length; i++) acc |= out[i]!;
  if (acc === 0) throw new InvalidKeyError('X25519 produced an all-zero output: the public key has low order');
  return out;
}
