import { assertEd25519PublicKey, sha256 } from '../crypto/index.js';
import { fromBase58, toBase58, toHex } from '../encoding.js';
import { InvalidDidError } from '../errors.js';

/** DIDs of the form `did:agentmesh:<base58btc(SHA-256(ed25519 public key)[0:20])>` are self-certifying. */
export const DID_PREFIX = 'did:agentmesh:';
/** Older names: `did:mesh:<32 hex>` (random or hash-derived); they prove nothing about a key. */
export const LEGACY_DID_PREFIX = 'did:mesh:';

const MAX_DID_LENGTH = 256;
const BASE58_ALPHABET = /^[1-9A-HJ-NP-Za-km-z]+$/;
const LEGACY_ID = /^[0-9a-f]{32}$/;

export type ParsedDid =
  | { readonly kind: 'agentmesh'; readonly did: string; readonly fingerprint: Uint8Array }
  | { readonly kind: 'legacy'; readonly did: string; readonly id: string };

export function didFromPublicKey(ed25519PublicKey: Uint8Array): string {
  if (ed25519PublicKey.length !== 32) {
    throw new InvalidDidError(`an Ed25519 public key is 32 bytes, got ${ed25519PublicKey.length}`);
  }
  return DID_PREFIX + toBase58(sha256(ed25519PublicKey).subarray(0, 20));
}

/** The hash-derived legacy name (`did:mesh:` + 32 hex chars of SHA-256(key)) that older registries assign. */
export function legacyDidFromPublicKey(ed25519PublicKey: Uint8Array): string {
  return LEGACY_DID_PREFIX + toHex(sha256(ed25519PublicKey)).slice(0, 32);
}

export function parseDid(did: unknown): ParsedDid {
  if (typeof did !== 'string') throw new InvalidDidError('a DID must be a string');
  if (did.length > MAX_DID_LENGTH) throw new InvalidDidError(`DID longer than ${MAX_DID_LENGTH} characters`);
  if (did.startsWith(DID_PREFIX)) {
    const id = did.slice(DID_PREFIX.length);
    if (!BASE58_ALPHABET.test(id)) throw new InvalidDidError(`not a base58btc identifier: ${JSON.stringify(did)}`);
    const fingerprint = fromBase58(id);
    if (fingerprint.length !== 20) {
      throw new InvalidDidError(`a did:agentmesh: identifier encodes 20 bytes, this one ${fingerprint.length}`);
    }
    // Reject non-canonical encodings (leading-zero tricks) so one key has exactly one DID.
    if (toBase58(fingerprint) !== id) throw new InvalidDidError(`non-canonical base58 in ${JSON.stringify(did)}`);
    return { kind: 'agentmesh', did, fingerprint };
  }
  if (did.startsWith(LEGACY_DID_PREFIX)) {
    const id = did.slice(LEGACY_DID_PREFIX.length);
    if (!LEGACY_ID.test(id)) throw new InvalidDidError(`a did:mesh: name is 32 lowercase hex characters: ${JSON.stringify(did)}`);
    return { kind: 'legacy', did, id };
  }
  throw new InvalidDidError(`unsupported DID method: ${JSON.stringify(did.slice(0, 40))}`);
}

export function isValidDid(did: unknown): did is string {
  try {
    parseDid(did);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether `ed25519PublicKey` is the key `did` names: `match` or `mismatch` for derived DIDs,
 * `unverifiable` for legacy names (their binding must come from elsewhere, such as a trust provider).
 * Throws `InvalidKeyError` for a 32-byte key that is not a usable Ed25519 key (small order, a
 * small-order component, not canonical): a DID that hashes such a key names no one who can sign.
 */
export function checkDidKey(did: string, ed25519PublicKey: Uint8Array): 'match' | 'mismatch' | 'unverifiable' {
  const parsed = parseDid(did);
  if (ed25519PublicKey.length !== 32) return parsed.kind === 'legacy' ? 'unverifiable' : 'mismatch';
  assertEd25519PublicKey(ed25519PublicKey, 'the Ed25519 public key');
  if (parsed.kind === 'legacy') return 'unverifiable';
  return didFromPublicKey(ed25519PublicKey) === did ? 'match' : 'mismatch';
}

export function didBelongsToKey(did: string, ed25519PublicKey: Uint8Array): boolean {
  return checkDidKey(did, ed25519PublicKey) === 'match';
}
