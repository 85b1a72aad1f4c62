import type { CryptoProvider } from '../crypto/index.js';
import { utf8, type Bytes } from '../encoding.js';

const RATCHET_INFO = utf8('AgentMesh_Ratchet_v1');
const MESSAGE_KEY_INPUT = Uint8Array.of(0x01);
const CHAIN_KEY_INPUT = Uint8Array.of(0x02);

/** KDF_RK: HKDF-SHA256(salt = root key, ikm = DH output) → (new root key, chain key). */
export async function kdfRoot(crypto: CryptoProvider, rootKey: Uint8Array, dhOutput: Uint8Array): Promise<[Bytes, Bytes]> {
  const pending = crypto.hkdfSha256(dhOutput, rootKey, RATCHET_INFO, 64);
  const out = pending instanceof Promise ? await pending : pending;
  const result: [Bytes, Bytes] = [out.slice(0, 32) as Bytes, out.slice(32, 64) as Bytes];
  out.fill(0);
  return result;
}

/**
 * KDF_CK: message key = HMAC(ck, 0x01), next chain key = HMAC(ck, 0x02). With a synchronous
 * backend the pair comes back as is (no Promise, no microtask turn); callers await only a Promise.
 */
export function kdfChain(
  crypto: CryptoProvider,
  chainKey: Uint8Array,
): [messageKey: Bytes, nextChainKey: Bytes] | Promise<[messageKey: Bytes, nextChainKey: Bytes]> {
  const mk = crypto.hmacSha256(chainKey, MESSAGE_KEY_INPUT);
  if (mk instanceof Promise) {
    return (async () => [await mk, await crypto.hmacSha256(chainKey, CHAIN_KEY_INPUT)] as [Bytes, Bytes])();
  }
  const ck = crypto.hmacSha256(chainKey, CHAIN_KEY_INPUT);
  return ck instanceof Promise ? ck.then((c) => [mk, c] as [Bytes, Bytes]) : [mk, ck];
}
