/**
 * The one Ed25519 verification rule every backend follows, and the public-key check that applies
 * it where a peer's key first enters. Backends differ on edge cases (node:crypto, WebCrypto and
 * workerd accept the universal signature R = identity, S = 0 under a small-order key; noble checks
 * the cofactored equation), so the provider runs these checks in front of every backend's
 * `ed25519Verify`. The curve work is noble's: point decoding, `isSmallOrder`, `isTorsionFree`.
 *
 * The rule (test/vectors-ed25519/README.md; SECURITY.md, class 7):
 * - A is 32 bytes, a canonical encoding (y < p, no sign bit on x = 0) of a curve point in the
 *   prime-order subgroup, and not the identity: small-order and mixed-order keys are refused;
 * - S < L;
 * - R's y < p, and R is not the identity (in any encoding);
 * - the equation is cofactorless: [S]B = R + [k]A, with k = SHA-512(R || A || M) over the bytes given.
 * With A of prime order, a cofactorless equation can only hold for an R of prime order or the
 * identity, so the rule refuses every small-order and mixed-order R too, with no per-signature
 * point decoding (native backends compare R's bytes, noble decodes R itself).
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesToNumberLE } from '@noble/curves/utils.js';
import { InvalidKeyError } from '../errors.js';

const Point = ed25519.Point;
/** The field prime p = 2^255 - 19. */
const FIELD_ORDER = Point.Fp.ORDER;
/** The group order L = 2^252 + 27742317777372353535851937790883648493. */
const GROUP_ORDER = Point.Fn.ORDER;
const Y_MASK = (1n << 255n) - 1n;
const IDENTITY_Y = 1n;

/**
 * Keys that passed the check, by hex. Deciding costs a point decompression and a scalar
 * multiplication by L (about 1.5 ms in noble), and the same few peer keys come back on every
 * message; bounded so a stream of fresh keys costs memory no more than this.
 */
const MAX_VALID_KEYS_CACHED = 1024;
const validKeys = new Set<string>();

/** One character per byte: a cheap, exact cache key (public keys only). */
function keyId(publicKey: Uint8Array): string {
  return String.fromCharCode(...publicKey);
}

/** Why `publicKey` is not a usable Ed25519 public key, or null when it is. Not cached. */
export function ed25519PublicKeyProblem(publicKey: Uint8Array): string | null {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) {
    return `must be 32 bytes, got ${publicKey instanceof Uint8Array ? publicKey.length : typeof publicKey}`;
  }
  let point: InstanceType<typeof Point>;
  try {
    // zip215 = false: y must be below p (RFC 8032 §5.1.3); noble also refuses x = 0 with the sign bit set.
    point = Point.fromBytes(publicKey, false);
  } catch {
    return 'is not the canonical encoding of a curve point';
  }
  if (point.isSmallOrder()) return 'has small order (a key any signature can match)';
  if (!point.isTorsionFree()) return 'has a small-order component (not in the prime-order subgroup)';
  return null;
}

/** Whether `publicKey` is a usable Ed25519 public key (cached once it is). */
export function isValidEd25519PublicKey(publicKey: Uint8Array): boolean {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) return false;
  const id = keyId(publicKey);
  if (validKeys.has(id)) return true;
  if (ed25519PublicKeyProblem(publicKey) !== null) return false;
  validKeys.add(id);
  if (validKeys.size > MAX_VALID_KEYS_CACHED) validKeys.delete(validKeys.values().next().value!);
  return true;
}

/**
 * Throws `InvalidKeyError` unless `publicKey` is a usable Ed25519 public key: canonical, on the
 * curve, of prime order. `field` names the key in the message.
 */
export function assertEd25519PublicKey(publicKey: Uint8Array, field = 'Ed25519 public key'): void {
  if (isValidEd25519PublicKey(publicKey)) return;
  throw new InvalidKeyError(`${field} ${ed25519PublicKeyProblem(publicKey) ?? 'is not usable'}`);
}

/** The signature-side checks of the rule: 64 bytes, S < L, R's y < p and R not the identity. */
export function ed25519SignatureInRange(signature: Uint8Array): boolean {
  if (!(signature instanceof Uint8Array) || signature.length !== 64) return false;
  // Fast path, taken by all but about 2^-7 of honest signatures: S < 2^252 < L, and R's y has a
  // top byte that is neither 0 (the identity's y = 1) nor 0x7f (y ≥ p needs it); the bigint
  // comparisons below decide the rest.
  const top = signature[31]! & 0x7f;
  if (signature[63]! < 0x10 && top !== 0 && top !== 0x7f) return true;
  if (bytesToNumberLE(signature.subarray(32, 64)) >= GROUP_ORDER) return false;
  const y = bytesToNumberLE(signature.subarray(0, 32)) & Y_MASK;
  return y < FIELD_ORDER && y !== IDENTITY_Y;
}

/** Whether a (key, signature) pair may be handed to a backend at all: everything but the equation. */
export function ed25519VerifyInputsStrict(publicKey: Uint8Array, signature: Uint8Array): boolean {
  return ed25519SignatureInRange(signature) && isValidEd25519PublicKey(publicKey);
}
