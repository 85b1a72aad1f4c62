import { concatBytes, fromBase64Any, type Bytes } from '../encoding.js';
import { InvalidKeyError } from '../errors.js';
import { rejectAllZero } from './noble.js';
import type { CurveBackend, HashBackend } from './provider.js';

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

async function importX25519Private(privateKey: Uint8Array): Promise<CryptoKey> {
  checkLength(privateKey, 32, 'X25519 private key');
  const pkcs8 = concatBytes(X25519_PKCS8_PREFIX, privateKey);
  try {
    return await subtle().importKey('pkcs8', pkcs8, { name: 'X25519' }, false, ['deriveBits']);
  } finally {
    pkcs8.fill(0);
  }
}

async function x25519WebCrypto(privateKey: Uint8Array, publicKey: Uint8Array): Promise<Bytes> {
  checkLength(publicKey, 32, 'X25519 public key');
  const priv = await importX25519Private(privateKey);
  let out: ArrayBuffer;
  try {
    const pub = await subtle().importKey('raw', asBuffer(publicKey), { name: 'X25519' }, true, []);
    out = await subtle().deriveBits({ name: 'X25519', public: pub }, priv, 256);
  } catch (cause) {
    throw new InvalidKeyError(`X25519 failed: ${(cause as Error).message} (low-order or malformed key)`);
  }
  return rejectAllZero(new Uint8Array(out) as Bytes);
}

async function importEd25519Private(seed: Uint8Array): Promise<CryptoKey> {
  checkLength(seed, 32, 'Ed25519 seed');
  const pkcs8 = concatBytes(ED25519_PKCS8_PREFIX, seed);
  try {
    return await subtle().importKey('pkcs8', pkcs8, { name: 'Ed25519' }, true, ['sign']);
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
