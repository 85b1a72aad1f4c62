/// <reference types="node" />
/**
 * The node:crypto backend: X25519, Ed25519, HMAC/HKDF-SHA256 and ChaCha20-Poly1305 from Node's
 * OpenSSL, all synchronous. Only Node's entry points import this module (package.json `exports`,
 * `node` condition, and `agentmesh-e2e/node`); browser and workerd builds never see node:crypto.
 * Importing it registers the `node` preset (`createCryptoProvider('node')`).
 *
 * Private keys enter node:crypto as JWK: OpenSSL 3 decodes PKCS#8 through its generic decoder
 * framework, which costs ~380 µs per key here against ~30 µs for JWK. The price is that the
 * key's base64url text exists briefly as a JavaScript string, which cannot be wiped (it is
 * unreferenced at once and collected like any garbage; the byte arrays we hold are still zeroed).
 * A self-test at first use checks that this Node derives the public key from `d` alone; where it
 * does not, imports fall back to PKCS#8 DER in a buffer that is zeroed after use.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { Buffer } from 'node:buffer';
import type { Bytes } from '../encoding.js';
import { AuthenticationError, InvalidKeyError } from '../errors.js';
import { registerCryptoPreset, type CryptoProviderOptions } from './index.js';
import { PrivateKeyCache, PublicKeyCache } from './key-cache.js';
import { rejectAllZero } from './noble.js';
import type { AeadBackend, CurveBackend, HashBackend, X25519KeyPair } from './provider.js';

type Okp = 'X25519' | 'Ed25519';

const PKCS8_PREFIX: Record<Okp, Uint8Array> = {
  X25519: Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20]),
  Ed25519: Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]),
};

/** RFC 7748 §6.1 (Alice) and RFC 8032 §7.1 test 1: private key → public key. */
const SELF_TEST: Record<Okp, [string, string]> = {
  X25519: [
    '77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a',
    '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a',
  ],
  Ed25519: [
    '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
  ],
};

/** Node requires `x` in a private JWK but derives the public key from `d`; we pass a placeholder. */
const PLACEHOLDER_X = Buffer.alloc(32).toString('base64url');

const b64u = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');

/**
 * A plain Uint8Array over an ArrayBuffer of its own. node:crypto returns digests, DH outputs and
 * cipher output in Buffers that own an exactly-sized ArrayBuffer: those are taken over without a
 * copy. Anything else (a view into Node's shared buffer pool) is copied, and the source zeroed.
 */
function own(buf: Uint8Array): Bytes {
  if (buf.byteOffset === 0 && buf.buffer.byteLength === buf.length && buf.buffer instanceof ArrayBuffer) {
    return new Uint8Array(buf.buffer, 0, buf.length) as Bytes;
  }
  const out = new Uint8Array(buf) as Bytes;
  buf.fill(0);
  return out;
}

function decodeKey(text: string | undefined, what: string): Bytes {
  const buf = Buffer.from(text ?? '', 'base64url');
  if (buf.length !== 32) {
    buf.fill(0);
    throw new Error(`node:crypto returned a malformed ${what}`);
  }
  return own(buf);
}

const jwkImport: Partial<Record<Okp, boolean>> = {};

function jwkImportWorks(kind: Okp): boolean {
  let ok = jwkImport[kind];
  if (ok === undefined) {
    try {
      const [priv, pub] = SELF_TEST[kind];
      const key = createPrivateKey({ key: { kty: 'OKP', crv: kind, d: Buffer.from(priv, 'hex').toString('base64url'), x: PLACEHOLDER_X }, format: 'jwk' });
      ok = Buffer.from(createPublicKey(key).export({ format: 'jwk' }).x ?? '', 'base64url').toString('hex') === pub;
    } catch {
      ok = false;
    }
    jwkImport[kind] = ok;
  }
  return ok;
}

function importPrivate(kind: Okp, bytes: Uint8Array): KeyObject {
  if (bytes.length !== 32) throw new InvalidKeyError(`${kind} private key must be 32 bytes, got ${bytes.length}`);
  if (jwkImportWorks(kind)) {
    return createPrivateKey({ key: { kty: 'OKP', crv: kind, d: b64u(bytes), x: PLACEHOLDER_X }, format: 'jwk' });
  }
  const der = Buffer.alloc(48);
  der.set(PKCS8_PREFIX[kind], 0);
  der.set(bytes, 16);
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } finally {
    der.fill(0);
  }
}

const x25519Privates = new PrivateKeyCache<KeyObject>();
const ed25519Privates = new PrivateKeyCache<KeyObject>();
const x25519Publics = new PublicKeyCache<KeyObject>();
const ed25519Publics = new PublicKeyCache<KeyObject>();

function privateKeyObject(kind: Okp, bytes: Uint8Array): KeyObject {
  const cache = kind === 'X25519' ? x25519Privates : ed25519Privates;
  let key = cache.get(bytes);
  if (!key) {
    key = importPrivate(kind, bytes);
    cache.set(bytes, key);
  }
  return key;
}

function publicKeyObject(kind: Okp, bytes: Uint8Array): KeyObject {
  const cache = kind === 'X25519' ? x25519Publics : ed25519Publics;
  let key = cache.get(bytes);
  if (!key) {
    key = createPublicKey({ key: { kty: 'OKP', crv: kind, x: b64u(bytes) }, format: 'jwk' });
    cache.set(bytes, key);
  }
  return key;
}

function publicOf(key: KeyObject): Bytes {
  return decodeKey(createPublicKey(key).export({ format: 'jwk' }).x, 'public key');
}

function x25519Node(privateKey: Uint8Array, publicKey: Uint8Array): Bytes {
  if (publicKey.length !== 32) throw new InvalidKeyError(`X25519 public key must be 32 bytes, got ${publicKey.length}`);
  const priv = privateKeyObject('X25519', privateKey);
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey: priv, publicKey: publicKeyObject('X25519', publicKey) });
  } catch (cause) {
    throw new InvalidKeyError(`X25519 failed: ${(cause as Error).message} (low-order or malformed key)`);
  }
  return rejectAllZero(own(shared));
}

export const nodeCurves: CurveBackend = {
  name: 'node-curves',
  x25519PublicKey(privateKey) {
    return publicOf(privateKeyObject('X25519', privateKey));
  },
  x25519: x25519Node,
  x25519GenerateKeyPair(): X25519KeyPair {
    const pair = generateKeyPairSync('x25519');
    const jwk = pair.privateKey.export({ format: 'jwk' });
    const privateKey = decodeKey(jwk.d, 'private key');
    x25519Privates.set(privateKey, pair.privateKey);
    return { privateKey, publicKey: decodeKey(jwk.x, 'public key') };
  },
  forget(privateKey) {
    x25519Privates.forget(privateKey);
    ed25519Privates.forget(privateKey);
  },
  holds(privateKey) {
    return x25519Privates.has(privateKey) || ed25519Privates.has(privateKey);
  },
  ed25519PublicKey(seed) {
    return publicOf(privateKeyObject('Ed25519', seed));
  },
  ed25519Sign(seed, message) {
    return own(sign(null, message, privateKeyObject('Ed25519', seed)));
  },
  ed25519Verify(publicKey, message, signature) {
    if (publicKey.length !== 32 || signature.length !== 64) return false;
    try {
      return verify(null, message, publicKeyObject('Ed25519', publicKey), signature);
    } catch {
      return false;
    }
  },
};

export const nodeHashes: HashBackend = {
  name: 'node-hashes',
  hmacSha256(key, data) {
    return own(createHmac('sha256', key).update(data).digest());
  },
  hkdfSha256(ikm, salt, info, length) {
    return new Uint8Array(hkdfSync('sha256', ikm, salt, info, length)) as Bytes;
  },
};

const TAG = 16;

export const nodeAead: AeadBackend = {
  name: 'node-aead',
  seal(key, nonce, plaintext, associatedData) {
    const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG });
    cipher.setAAD(associatedData, { plaintextLength: plaintext.length });
    const out = new Uint8Array(plaintext.length + TAG) as Bytes;
    out.set(cipher.update(plaintext), 0);
    cipher.final();
    out.set(cipher.getAuthTag(), plaintext.length);
    return out;
  },
  open(key, nonce, sealed, associatedData) {
    if (sealed.length < TAG) throw new AuthenticationError('ciphertext is shorter than the 16-byte tag');
    const body = sealed.subarray(0, sealed.length - TAG);
    const decipher = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG });
    decipher.setAAD(associatedData, { plaintextLength: body.length });
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG));
    let plain: Buffer | undefined;
    try {
      plain = decipher.update(body);
      decipher.final();
    } catch {
      // Unauthenticated plaintext never leaves.
      plain?.fill(0);
      throw new AuthenticationError();
    }
    return own(plain);
  },
};

/** node:crypto for curves, hashes and the AEAD. */
export const NODE_PRESET: CryptoProviderOptions = { curves: nodeCurves, hashes: nodeHashes, aead: nodeAead };

registerCryptoPreset('node', NODE_PRESET);
