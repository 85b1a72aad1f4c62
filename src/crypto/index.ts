import type { Bytes } from '../encoding.js';
import {
  aeadOpen,
  aeadSeal,
  constantTimeEqual,
  ed25519ToX25519Private,
  ed25519ToX25519Public,
  nobleCurves,
  nobleHashes,
} from './noble.js';
import type { CryptoProvider, CurveBackend, HashBackend, RandomSource, X25519KeyPair } from './provider.js';
import { webCryptoCurves, webCryptoCurvesSupported, webCryptoHashes } from './webcrypto.js';

export type { CryptoProvider, CurveBackend, HashBackend, MaybePromise, RandomSource, X25519KeyPair } from './provider.js';
export { sha256 } from './noble.js';
export { webCryptoCurvesSupported } from './webcrypto.js';

export type CurveChoice = 'webcrypto' | 'noble' | 'auto';
export type HashChoice = 'webcrypto' | 'noble';

export interface CryptoProviderOptions {
  /** X25519/Ed25519: native WebCrypto, noble, or WebCrypto where the runtime has it (default). */
  curves?: CurveChoice | CurveBackend;
  /** HMAC/HKDF: synchronous noble (default; a WebCrypto call costs more than the hash) or WebCrypto. */
  hashes?: HashChoice | HashBackend;
  /** Replaces the system CSPRNG; tests use it to replay recorded randomness. */
  random?: RandomSource;
}

/** Named backend combinations; `fast` is the default everywhere (see BENCHMARKS.md). */
export const CRYPTO_PRESETS = {
  /** WebCrypto HKDF/HMAC with noble X25519/Ed25519 and noble ChaCha20-Poly1305. */
  baseline: { curves: 'noble', hashes: 'webcrypto' },
  /** Native WebCrypto X25519/Ed25519 where present, synchronous noble hashing. */
  fast: { curves: 'auto', hashes: 'noble' },
  /** Pure noble: no WebCrypto at all (insecure browser contexts have no crypto.subtle). */
  noble: { curves: 'noble', hashes: 'noble' },
  /** Everything WebCrypto can do natively. */
  webcrypto: { curves: 'webcrypto', hashes: 'webcrypto' },
} as const satisfies Record<string, CryptoProviderOptions>;

export type CryptoPreset = keyof typeof CRYPTO_PRESETS;

const MAX_RANDOM_CHUNK = 65536;

function systemRandom(length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let offset = 0; offset < length; offset += MAX_RANDOM_CHUNK) {
    globalThis.crypto.getRandomValues(out.subarray(offset, Math.min(length, offset + MAX_RANDOM_CHUNK)));
  }
  return out;
}

const autoCurves: CurveBackend = {
  name: 'auto-curves',
  async x25519PublicKey(privateKey) {
    return (await pickCurves()).x25519PublicKey(privateKey);
  },
  async x25519(privateKey, publicKey) {
    return (await pickCurves()).x25519(privateKey, publicKey);
  },
  async ed25519PublicKey(seed) {
    return (await pickCurves()).ed25519PublicKey(seed);
  },
  async ed25519Sign(seed, message) {
    return (await pickCurves()).ed25519Sign(seed, message);
  },
  async ed25519Verify(publicKey, message, signature) {
    return (await pickCurves()).ed25519Verify(publicKey, message, signature);
  },
};

async function pickCurves(): Promise<CurveBackend> {
  return (await webCryptoCurvesSupported()) ? webCryptoCurves : nobleCurves;
}

function resolveCurves(choice: CurveChoice | CurveBackend): CurveBackend {
  if (typeof choice !== 'string') return choice;
  return choice === 'webcrypto' ? webCryptoCurves : choice === 'noble' ? nobleCurves : autoCurves;
}

function resolveHashes(choice: HashChoice | HashBackend): HashBackend {
  if (typeof choice !== 'string') return choice;
  return choice === 'webcrypto' ? webCryptoHashes : nobleHashes;
}

export function createCryptoProvider(options: CryptoProviderOptions | CryptoPreset = 'fast'): CryptoProvider {
  const opts = typeof options === 'string' ? CRYPTO_PRESETS[options] : { ...CRYPTO_PRESETS.fast, ...options };
  const curves = resolveCurves(opts.curves);
  const hashes = resolveHashes(opts.hashes);
  const random = 'random' in opts && opts.random ? opts.random : systemRandom;
  const randomBytes = (length: number): Bytes => {
    const out = random(length);
    if (out.length !== length) throw new Error(`random source returned ${out.length} bytes, expected ${length}`);
    return new Uint8Array(out) as Bytes;
  };
  return {
    name: `${curves.name}+${hashes.name}`,
    randomBytes,
    async x25519GenerateKeyPair(): Promise<X25519KeyPair> {
      const privateKey = randomBytes(32);
      return { privateKey, publicKey: await curves.x25519PublicKey(privateKey) };
    },
    x25519PublicKey: (k) => curves.x25519PublicKey(k),
    x25519: (k, p) => curves.x25519(k, p),
    ed25519PublicKey: (s) => curves.ed25519PublicKey(s),
    ed25519Sign: (s, m) => curves.ed25519Sign(s, m),
    ed25519Verify: (p, m, s) => curves.ed25519Verify(p, m, s),
    ed25519ToX25519Public,
    ed25519ToX25519Private,
    hmacSha256: (k, d) => hashes.hmacSha256(k, d),
    hkdfSha256: (i, s, n, l) => hashes.hkdfSha256(i, s, n, l),
    aeadSeal,
    aeadOpen,
    constantTimeEqual,
    zeroize(...buffers) {
      for (const b of buffers) b?.fill(0);
    },
  };
}

let defaultProvider: CryptoProvider | undefined;

/** The provider used wherever none is passed explicitly. */
export function getDefaultCryptoProvider(): CryptoProvider {
  defaultProvider ??= createCryptoProvider('fast');
  return defaultProvider;
}

export function setDefaultCryptoProvider(provider: CryptoProvider | CryptoPreset | CryptoProviderOptions): void {
  defaultProvider = typeof provider === 'object' && 'randomBytes' in provider ? provider : createCryptoProvider(provider);
}
