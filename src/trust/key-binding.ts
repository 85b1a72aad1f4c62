import { ed25519PublicKeyProblem, isValidEd25519PublicKey, type CryptoProvider } from '../crypto/index.js';
import { checkDidKey } from '../identity/did.js';
import { TrustError } from './errors.js';
import { lookUpKey, type TrustProvider } from './provider.js';

/**
 * Throws unless `ed25519PublicKey` belongs to `did`: derived `did:agentmesh:` DIDs by their hash,
 * legacy `did:mesh:` names only when the trust provider knows them by this very key. A key that
 * is not a usable Ed25519 key (small order, a small-order component, not canonical) is refused
 * first, as `invalid_key`, whatever DID it hashes to.
 */
export async function assertKeyBelongsToDid(
  did: string,
  ed25519PublicKey: Uint8Array,
  provider: TrustProvider,
  crypto: CryptoProvider,
): Promise<void> {
  if (!isValidEd25519PublicKey(ed25519PublicKey)) {
    const problem = ed25519PublicKeyProblem(ed25519PublicKey) ?? 'is not usable';
    throw new TrustError('invalid_key', `the key ${did} presented ${problem}`, { peerDid: did });
  }
  let binding: ReturnType<typeof checkDidKey>;
  try {
    binding = checkDidKey(did, ed25519PublicKey);
  } catch (cause) {
    throw new TrustError('invalid_did', `not a DID we accept: ${JSON.stringify(did.slice(0, 80))}`, { peerDid: did, cause });
  }
  if (binding === 'match') return;
  if (binding === 'mismatch') throw new TrustError('did_key_mismatch', `the key presented is not the key ${did} names`, { peerDid: did });
  const known = await lookUpKey(provider, did);
  if (known === null) {
    throw new TrustError('unknown_key', `${did} is a legacy name and the trust provider knows no key for it`, { peerDid: did });
  }
  if (!crypto.constantTimeEqual(known, ed25519PublicKey)) {
    throw new TrustError('did_key_mismatch', `the key presented is not the key the trust provider knows for ${did}`, { peerDid: did });
  }
}
