import type { Bytes } from '../encoding.js';
import {
  constantTimeEqual,
  ed25519ToX25519Private,
  ed25519ToX25519Public,
  nobleAead,
  nobleCurves,
  nobleHashes,
} from './noble.js';
import type { AeadBackend, CryptoProvider, CurveBackend, HashBackend, RandomSource, X25519KeyPair } from './provider.js';
import { PublicKeyCache } from './key-cache.js';
import { assertEd25519PublicKey, ed25519VerifyInputsStrict } from './ed25519-strict.js';
import { RedactedKeyPair } from '../redacted.js';
import { webCryptoCurves, webCryptoCurvesSupported, webCryptoHashes } from './webcrypto.js';

export type { AeadBackend, CryptoProvider, CurveBackend, HashBackend, MaybePromise, RandomSource, X25519KeyPair } from './provider.js';
export { sha256 } from './noble.js';
export { assertEd25519PublicKey, ed25519PublicKeyProblem, isValidEd25519PublicKey } from './ed25519-strict.js';
export { webCryptoCurvesSupported } from './webcrypto.js';

export type CurveChoice = 'webcrypto' | 'noble' | 'auto';
export type HashChoice = 'webcrypto' | 'noble';
export type AeadChoice = 'noble';

export interface CryptoProviderOptions {
  /** X25519/Ed25519: native WebCrypto, noble, or WebCrypto where the runtime has it (default). */
  curves?: CurveChoice | CurveBackend;
  /** HMAC/HKDF: synchronous noble (default; a WebCrypto call costs more than the hash) or WebCrypto. */
  hashes?: HashChoice | HashBackend;
  /** ChaCha20-Poly1305: noble (default) or a backend object such as node:crypto's. */
  aead?: AeadChoice | AeadBackend;
  /** Replaces the system CSPRNG; tests use it to replay recorded randomness. */
  random?: RandomSource;
}

/**
 * Named backend combinations; `fast` is the default in browsers and workerd, `node` (registered by
 * the package's Node entry point, see `CryptoPreset`) the default under Node (see BENCHMARKS.md).
 */
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

/**
 * The static presets, plus `node` (node:crypto for everything) where the Node entry point of the
 * package has registered it: `agentmesh-e2e` under the `node` export condition, or
 * `agentmesh-e2e/node`. Browser and workerd builds never import node:crypto.
 */
export type CryptoPreset = keyof typeof CRYPTO_PRESETS | 'node';

/** Presets registered at run time (`registerCryptoPreset`), listed by `Object.keys(CRYPTO_PRESETS)`. */
const PRESET_TABLE = CRYPTO_PRESETS as Record<string, CryptoProviderOptions>;

/** Adds a named preset (the Node entry adds `node`); it then shows in `Object.keys(CRYPTO_PRESETS)`. */
export function registerCryptoPreset(name: CryptoPreset, options: CryptoProviderOptions): void {
  PRESET_TABLE[name] = options;
}

let runtimeDefault: CryptoPreset = 'fast';

/** The preset `getDefaultCryptoProvider` uses in this runtime: `node` under Node's entry point, else `fast`. */
export function defaultCryptoPreset(): CryptoPreset {
  return runtimeDefault;
}

/** Makes a registered preset this runtime's default (the Node entry point makes `node` the default). */
export function setDefaultCryptoPreset(name: CryptoPreset): void {
  if (!PRESET_TABLE[name]) throw new Error(`unknown crypto preset ${JSON.stringify(name)}`);
  runtimeDefault = name;
  defaultProvider = undefined;
}

const MAX_RANDOM_CHUNK = 65536;
const POOL_SIZE = 4096;
const POOLED_MAX = 64;
let pool: Uint8Array | undefined;
let poolOffset = POOL_SIZE;

/**
 * The system CSPRNG. Small draws (nonces, keys: at most 64 bytes) come from a 4 KiB buffer filled
 * by one getRandomValues call, because each call costs a system call (10-20 µs on a VM, more than
 * the AEAD of a 1 KiB message); every byte handed out is zeroed in the buffer, so it holds only
 * bytes nobody has seen. Larger draws go straight to getRandomValues.
 */
function systemRandom(length: number): Uint8Array {
  const out = new Uint8Array(length);
  if (length <= POOLED_MAX) {
    if (poolOffset + length > POOL_SIZE) {
      pool ??= new Uint8Array(POOL_SIZE);
      globalThis.crypto.getRandomValues(pool);
      poolOffset = 0;
    }
    const slice = pool!.subarray(poolOffset, poolOffset + length);
    out.set(slice);
    slice.fill(0);
    poolOffset += length;
    return out;
  }
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
  async x25519GenerateKeyPair() {
    const curves = await pickCurves();
    if (curves.x25519GenerateKeyPair) return curves.x25519GenerateKeyPair();
    const privateKey = systemRandom(32) as Bytes;
    return { privateKey, publicKey: await curves.x25519PublicKey(privateKey) };
  },
  forget(privateKey) {
    webCryptoCurves.forget?.(privateKey);
  },
  holds(privateKey) {
    return webCryptoCurves.holds?.(privateKey) ?? false;
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

function presetOptions(name: string): CryptoProviderOptions {
  const opts = PRESET_TABLE[name];
  if (!opts) {
    throw new Error(
      name === 'node'
        ? 'the `node` crypto preset is registered by the Node entry point (import "agentmesh-e2e" under Node, or "agentmesh-e2e/node")'
        : `unknown crypto preset ${JSON.stringify(name)}`,
    );
  }
  return opts;
}

export function createCryptoProvider(options: CryptoProviderOptions | CryptoPreset = 'fast'): CryptoProvider {
  const opts: CryptoProviderOptions = typeof options === 'string' ? presetOptions(options) : { ...CRYPTO_PRESETS.fast, ...options };
  const curves = resolveCurves(opts.curves ?? 'auto');
  const hashes = resolveHashes(opts.hashes ?? 'noble');
  const aead = !opts.aead || opts.aead === 'noble' ? nobleAead : opts.aead;
  const injected = opts.random;
  const random = injected ?? systemRandom;
  const randomBytes = injected
    ? (length: number): Bytes => {
        const out = injected(length);
        if (out.length !== length) throw new Error(`random source returned ${out.length} bytes, expected ${length}`);
        return new Uint8Array(out) as Bytes;
      }
    : (length: number): Bytes => random(length) as Bytes;
  // The backend's own generator only when randomness is not injected (replayed vectors draw it).
  const generate = !injected && curves.x25519GenerateKeyPair ? curves.x25519GenerateKeyPair.bind(curves) : undefined;
  const name = aead === nobleAead ? `${curves.name}+${hashes.name}` : `${curves.name}+${hashes.name}+${aead.name}`;
  return {
    name,
    randomBytes,
    async x25519GenerateKeyPair(): Promise<X25519KeyPair> {
      if (generate) {
        const pair = await generate();
        return new RedactedKeyPair(pair.privateKey, pair.publicKey);
      }
      const privateKey = randomBytes(32);
      return new RedactedKeyPair(privateKey, await curves.x25519PublicKey(privateKey));
    },
    x25519PublicKey: (k) => curves.x25519PublicKey(k),
    x25519: (k, p) => curves.x25519(k, p),
    ed25519PublicKey: (s) => curves.ed25519PublicKey(s),
    ed25519Sign: (s, m) => curves.ed25519Sign(s, m),
    // One rule for every backend (ed25519-strict.ts): key and signature ranges here, the
    // cofactorless equation in the backend.
    ed25519Verify: (p, m, s) => (ed25519VerifyInputsStrict(p, s) ? curves.ed25519Verify(p, m, s) : false),
    ed25519ToX25519Public: ed25519ToX25519PublicCached,
    ed25519ToX25519Private,
    hmacSha256: (k, d) => hashes.hmacSha256(k, d),
    hkdfSha256: (i, s, n, l) => hashes.hkdfSha256(i, s, n, l),
    aeadSeal: aead.seal,
    aeadOpen: aead.open,
    constantTimeEqual,
    zeroize(...buffers) {
      for (const b of buffers) {
        if (!b) continue;
        curves.forget?.(b);
        b.fill(0);
      }
    },
  };
}

/**
 * Ed25519 → X25519 of a public key decompresses a point (~200 µs in noble). Public, deterministic,
 * and asked again for every session with the same peer: the last few results are kept.
 */
const montgomeryPublics = new PublicKeyCache<Bytes>(16);

function ed25519ToX25519PublicCached(publicKey: Uint8Array): Bytes {
  const hit = montgomeryPublics.get(publicKey);
  if (hit) return new Uint8Array(hit) as Bytes;
  // A small-order or mixed-order key has no place in a key agreement either (its X25519 form
  // gives an all-zero or a torsion-shifted secret).
  assertEd25519PublicKey(publicKey);
  const out = ed25519ToX25519Public(publicKey);
  montgomeryPublics.set(publicKey, new Uint8Array(out) as Bytes);
  return out;
}

let defaultProvider: CryptoProvider | undefined;

/** The provider used wherever none is passed explicitly: `defaultCryptoPreset()` unless set. */
export function getDefaultCryptoProvider(): CryptoProvider {
  defaultProvider ??= createCryptoProvider(runtimeDefault);
  return defaultProvider;
}

export function setDefaultCryptoProvider(provider: CryptoProvider | CryptoPreset | CryptoProviderOptions): void {
  defaultProvider = typeof provider === 'object' && 'randomBytes' in provider ? provider : createCryptoProvider(provider);
}
