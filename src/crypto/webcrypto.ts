import { concatBytes, fromBase64Any, type Bytes } from '../encoding.js';
import { InvalidKeyError } from '../errors.js';
import { PrivateKeyCache, PublicKeyCache } from './key-cache.js';
import { rejectAllZero } from './noble.js';
import type { CurveBackend, HashBackend, X25519KeyPair } from './provider.js';

// PKCS#8 wrappers for raw 32-byte private keys (RFC 8410): WebCrypto imports private curve keys
// only as PKCS#8 or JWK.
const X25519_PKCS8_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20]);
const ED25519_PKCS8_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]);
const X25519_BASE_POINT = new Uint8Array(32);
X25519_BASE_POINT[0] = 9;

function subtle(): SubtleCrypto {
  const s = globalThis.crypto?.subtle;
  if (!s) throw new Error('WebCrypto (crypto.subtle) is not available in this context');
  return s;
}

function asBuffer(bytes: Uint8Array): Bytes {
  // WebCrypto typings want ArrayBuffer-backed views; a copy also detaches us from caller mutation.
  return new Uint8Array(bytes) as Bytes;
}

function checkLength(bytes: Uint8Array, length: number, what: string): void {
  if (bytes.length !== length) throw new InvalidKeyError(`${what} must be ${length} bytes, got ${bytes.length}`);
}

// Imported keys, reused while the caller's bytes are unchanged (see key-cache.ts).
const x25519Privates = new PrivateKeyCache<CryptoKey>();
const ed25519Privates = new PrivateKeyCache<CryptoKey>();
const x25519Publics = new PublicKeyCache<CryptoKey>();

async function importX25519Private(privateKey: Uint8Array): Promise<CryptoKey> {
  checkLength(privateKey, 32, 'X25519 private key');
  const cached = x25519Privates.get(privateKey);
  if (cached) return cached;
  const pkcs8 = concatBytes(X25519_PKCS8_PREFIX, privateKey);
  // X25519 clamps the scalar itself (RFC 7748), so clamping first changes no result; some engines
  // (WebKit) refuse unclamped scalars in PKCS#8, while our keys are stored unclamped, as the reference does.
  pkcs8[16]! &= 0xf8;
  pkcs8[47]! &= 0x7f;
  pkcs8[47]! |= 0x40;
  try {
    const key = await subtle().importKey('pkcs8', pkcs8, { name: 'X25519' }, false, ['deriveBits']);
    x25519Privates.set(privateKey, key);
    return key;
  } catch (cause) {
    throw new InvalidKeyError(`X25519 private key refused by WebCrypto: ${(cause as Error).message}`);
  } finally {
    pkcs8.fill(0);
  }
}

async function importX25519Public(publicKey: Uint8Array): Promise<CryptoKey> {
  const cached = x25519Publics.get(publicKey);
  if (cached) return cached;
  const key = await subtle().importKey('raw', asBuffer(publicKey), { name: 'X25519' }, true, []);
  x25519Publics.set(publicKey, key);
  return key;
}

/**
 * generateKey, then the raw private scalar out of its PKCS#8 form; the CryptoKey is cached for it.
 * A runtime whose PKCS#8 export has another layout falls back to drawing 32 bytes and importing.
 */
let nativeGenerate = true;

async function generateX25519(): Promise<X25519KeyPair> {
  if (nativeGenerate) {
    try {
      const pair = (await subtle().generateKey({ name: 'X25519' }, true, ['deriveBits'])) as CryptoKeyPair;
      const [pkcs8, raw] = await Promise.all([subtle().exportKey('pkcs8', pair.privateKey), subtle().exportKey('raw', pair.publicKey)]);
      const der = new Uint8Array(pkcs8);
      try {
        if (der.length === 48 && X25519_PKCS8_PREFIX.every((b, i) => der[i] === b) && raw.byteLength === 32) {
          const privateKey = der.slice(16) as Bytes;
          x25519Privates.set(privateKey, pair.privateKey);
          return { privateKey, publicKey: new Uint8Array(raw) as Bytes };
        }
      } finally {
        der.fill(0);
      }
    } catch {
      // fall through to drawing and importing
    }
    nativeGenerate = false;
  }
  const privateKey = globalThis.crypto.getRandomValues(new Uint8Array(32)) as Bytes;
  return { privateKey, publicKey: await x25519WebCrypto(privateKey, X25519_BASE_POINT) };
}

async function x25519WebCrypto(privateKey: Uint8Array, publicKey: Uint8Array): Promise<Bytes> {
  checkLength(publicKey, 32, 'X25519 public key');
  const priv = await importX25519Private(privateKey);
  let out: ArrayBuffer;
  try {
    const pub = await importX25519Public(publicKey);
    out = await subtle().deriveBits({ name: 'X25519', public: pub }, priv, 256);
  } catch (cause) {
    throw new InvalidKeyError(`X25519 failed: ${(cause as Error).message} (low-order or malformed key)`);
  }
  return rejectAllZero(new Uint8Array(out) as Bytes);
}

async function importEd25519Private(seed: Uint8Array): Promise<CryptoKey> {
  checkLength(seed, 32, 'Ed25519 seed');
  const cached = ed25519Privates.get(seed);
  if (cached) return cached;
  const pkcs8 = concatBytes(ED25519_PKCS8_PREFIX, seed);
  try {
    const key = await subtle().importKey('pkcs8', pkcs8, { name: 'Ed25519' }, true, ['sign']);
    ed25519Privates.set(seed, key);
    return key;
  } finally {
    pkcs8.fill(0);
  }
}

export const webCryptoCurves: CurveBackend = {
  name: 'webcrypto-curves',
  x25519PublicKey(privateKey) {
    return x25519WebCrypto(privateKey, X25519_BASE_POINT);
  },
  x25519: x25519WebCrypto,
  x25519GenerateKeyPair: generateX25519,
  forget(privateKey) {
    x25519Privates.forget(privateKey);
    ed25519Privates.forget(privateKey);
  },
  holds(privateKey) {
    return x25519Privates.has(privateKey) || ed25519Privates.has(privateKey);
  },
  async ed25519PublicKey(seed) {
    const key = await importEd25519Private(seed);
    const jwk = await subtle().exportKey('jwk', key);
    if (!jwk.x) throw new Error('WebCrypto did not export the Ed25519 public key');
    return fromBase64Any(jwk.x);
  },
  async ed25519Sign(seed, message) {
    const key = await importEd25519Private(seed);
    return new Uint8Array(await subtle().sign({ name: 'Ed25519' }, key, asBuffer(message))) as Bytes;
  },
  async ed25519Verify(publicKey, message, signature) {
    if (publicKey.length !== 32 || signature.length !== 64) return false;
    try {
      const key = await subtle().importKey('raw', asBuffer(publicKey), { name: 'Ed25519' }, false, ['verify']);
      return await subtle().verify({ name: 'Ed25519' }, key, asBuffer(signature), asBuffer(message));
    } catch {
      return false;
    }
  },
};

export const webCryptoHashes: HashBackend = {
  name: 'webcrypto-hashes',
  async hmacSha256(key, data) {
    const k = await subtle().importKey('raw', asBuffer(key), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    return new Uint8Array(await subtle().sign('HMAC', k, asBuffer(data))) as Bytes;
  },
  async hkdfSha256(ikm, salt, info, length) {
    const k = await subtle().importKey('raw', asBuffer(ikm), 'HKDF', false, ['deriveBits']);
    const bits = await subtle().deriveBits(
      { name: 'HKDF', hash: 'SHA-256', salt: asBuffer(salt), info: asBuffer(info) },
      k,
      length * 8,
    );
    return new Uint8Array(bits) as Bytes;
  },
};

let curvesSupport: Promise<boolean> | undefined;

/** Whether this runtime's WebCrypto has X25519 and Ed25519 (probed once, by use). */
export function webCryptoCurvesSupported(): Promise<boolean> {
  curvesSupport ??= (async () => {
    try {
      const seed = new Uint8Array(32).fill(7);
      const pub = await webCryptoCurves.ed25519PublicKey(seed);
      const sig = await webCryptoCurves.ed25519Sign(seed, seed);
      const ok = await webCryptoCurves.ed25519Verify(pub, seed, sig);
      const dh = await webCryptoCurves.x25519PublicKey(seed);
      return ok && dh.length === 32;
    } catch {
      return false;
    }
  })();
  return curvesSupport;
}
