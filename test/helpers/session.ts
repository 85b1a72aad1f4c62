import type { CryptoProvider } from '../../src/crypto/index.js';
import { X3DHKeyManager } from '../../src/x3dh/key-manager.js';
import { hex } from './vectors.js';

/** An X3DH key manager for an Ed25519 seed given in hex. */
export async function managerFromSeed(seedHex: string, crypto: CryptoProvider, options: { now?: () => number } = {}) {
  const seed = hex(seedHex);
  const pub = await crypto.ed25519PublicKey(seed);
  return X3DHKeyManager.fromEd25519Keys(new Uint8Array([...seed, ...pub]), pub, { crypto, ...options });
}
