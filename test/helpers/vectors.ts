import { shake256 } from '@noble/hashes/sha3.js';
import { createCryptoProvider, CRYPTO_PRESETS, type CryptoPreset, type CryptoProvider, type CryptoProviderOptions } from '../../src/crypto/index.js';
// Registers the `node` preset (node:crypto), so that every vector runs under it too.
import '../../src/crypto/node.js';
import { concatBytes, fromHex } from '../../src/encoding.js';
import identity from '../vectors/identity.json' with { type: 'json' };
import negative from '../vectors/negative.json' with { type: 'json' };
import ratchet from '../vectors/ratchet.json' with { type: 'json' };
import x3dh from '../vectors/x3dh.json' with { type: 'json' };

export const vectors = { identity, x3dh, ratchet, negative };

export const PRESETS = Object.keys(CRYPTO_PRESETS) as CryptoPreset[];

/** The vectors' per-party random stream: draw k = SHAKE-256(seed || uint64_be(k)) cut to length. */
export function recordedRandom(seedHex: string): { next: (length: number) => Uint8Array; readonly draws: number } {
  const seed = fromHex(seedHex);
  let counter = 0;
  return {
    next(length: number) {
      counter += 1;
      const k = new Uint8Array(8);
      new DataView(k.buffer).setBigUint64(0, BigInt(counter), false);
      return shake256(concatBytes(seed, k), { dkLen: length });
    },
    get draws() {
      return counter;
    },
  };
}

/** A provider of the given preset whose randomness replays a recorded stream. */
export function replayProvider(preset: CryptoPreset, seedHex: string): CryptoProvider & { draws: () => number } {
  const rng = recordedRandom(seedHex);
  const provider = createCryptoProvider({ ...(CRYPTO_PRESETS as Record<string, CryptoProviderOptions>)[preset], random: rng.next });
  return Object.assign(provider, { draws: () => rng.draws });
}

export const hex = fromHex;
