import { RequestAuthError } from '../src/index.js';
import { type SignatureForm, checkFreshness, parseAuthorization, replayKey, verifySignature } from '../src/protocol.js';
import type { Config } from './config.js';

export interface Authenticated {
  readonly did: string;
  readonly form: SignatureForm;
}

export interface AuthDeps {
  readonly config: Config;
  readonly now: number;
  /** The signer's registered Ed25519 key, or null when it is not a registered agent. */
  keyFor(did: string): Promise<Uint8Array | null>;
  /** Records a verified signature in the replay cache; false if it was there already. */
  remember(key: string, expiresAt: number): boolean;
}

/**
 * Checks `Authorization: Ed25519-Timestamp …` for one request: well-formed, fresh, signed by a
 * registered agent's key over this method, path and body, and never seen before. Throws
 * `RequestAuthError` (401).
 */
export async function authenticate(
  request: { header: string | null; method: string; path: string; digestHex: string },
  deps: AuthDeps,
): Promise<Authenticated> {
  const auth = parseAuthorization(request.header);
  checkFreshness(auth.timestampMs, deps.now, deps.config.authWindowMs);
  const key = await deps.keyFor(auth.did);
  if (!key) throw new RequestAuthError('unknown_signer', 'the signing DID is not a registered agent');
  const form = await verifySignature({
    auth,
    publicKey: key,
    method: request.method,
    path: request.path,
    digestHex: request.digestHex,
    allowTimestampOnly: deps.config.allowTimestampOnlyAuth,
  });
  // Kept until the timestamp falls out of the window, after which freshness refuses it anyway.
  const expiresAt = auth.timestampMs + deps.config.authWindowMs + 1000;
  if (!deps.remember(replayKey(auth.did, form, auth.timestamp, request.method, request.path, request.digestHex), expiresAt)) {
    throw new RequestAuthError('replayed_signature', 'this signature was already used; sign each request anew');
  }
  return { did: auth.did, form };
}
