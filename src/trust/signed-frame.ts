import type { CryptoProvider } from '../crypto/index.js';
import { toBase64Url, utf8 } from '../encoding.js';
import { canonicalJson } from './canonical-json.js';
import type { AgentMeshFrame } from './frame.js';
import type { SigningIdentity } from './handshake.js';

/** Ed25519 over the canonical JSON (sorted keys, RFC 8785) of the whole frame minus `signature`. */
export async function signFrame<T extends AgentMeshFrame>(frame: T, identity: SigningIdentity): Promise<T & { signature: string }> {
  const { signature: _ignored, ...unsigned } = frame as T & { signature?: unknown };
  const signature = await identity.sign(utf8(canonicalJson(unsigned)));
  return { ...frame, signature: toBase64Url(signature) };
}

/** Whether `signature` signs `fields` (a parsed frame, its `signature` field excluded) under `publicKey`. */
export async function frameSignatureValid(
  fields: Record<string, unknown>,
  signature: Uint8Array,
  publicKey: Uint8Array,
  crypto: CryptoProvider,
): Promise<boolean> {
  const { signature: _ignored, ...unsigned } = fields;
  // canonicalJson refuses oversize or odd input with InvalidTrustFrameError; callers treat that as malformed.
  const message = utf8(canonicalJson(unsigned));
  try {
    return await crypto.ed25519Verify(publicKey, message, signature);
  } catch {
    return false;
  }
}
