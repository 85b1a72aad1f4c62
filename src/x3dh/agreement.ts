import type { CryptoProvider, X25519KeyPair } from '../crypto/index.js';
import { concatBytes, copyBytes, utf8, type Bytes } from '../encoding.js';
import { InvalidBundleError, InvalidKeyError } from '../errors.js';
import { checkBundleShape, verifyBundleKeys, type PreKeyBundle } from './bundle.js';

/**
 * X3DH v1 as pure agreement (vectors/README.md): key pairs and the peer's public keys in; the shared
 * secret, the associated data and the wire establishment out. No state and no storage: the key
 * manager and the session layer hold the keys and call these (libsignal `handshake.rs`).
 */

const X3DH_INFO = utf8('AgentMesh_X3DH_v1');
const X3DH_SALT = new Uint8Array(32);
const X3DH_PAD = new Uint8Array(32).fill(0xff);

/** What the initiator sends so the responder can complete X3DH (the reference's `ChannelEstablishment`). */
export interface ChannelEstablishment {
  /** The initiator's X25519 identity key. */
  readonly identityKey: Bytes;
  readonly ephemeralKey: Bytes;
  readonly usedOneTimeKeyId: number | null;
  /** Which signed pre-key the initiator used; absent in the reference's form. */
  readonly signedPreKeyId?: number | null;
}

export interface Agreement {
  /** Secret: SK, the Double Ratchet's first root key. */
  readonly sharedSecret: Bytes;
  /** IK_initiator || IK_responder (X25519), 64 bytes. */
  readonly associatedData: Bytes;
}

export interface InitiatorAgreement extends Agreement {
  readonly establishment: ChannelEstablishment;
}

/** The responder's side: its identity, the signed pre-key to answer with, and the one-time pre-key the initiator named. */
export interface ResponderKeyPairs {
  readonly identity: X25519KeyPair;
  readonly signedPreKey: X25519KeyPair;
  readonly oneTimePreKey: X25519KeyPair | null;
}

/**
 * Initiator side. Refuses, before drawing any randomness, a bundle whose signed pre-key is not
 * signed by `identityKeyEd` or whose `identityKey` is not the X25519 form of `identityKeyEd`.
 */
export async function initiate(identity: X25519KeyPair, bundle: PreKeyBundle, crypto: CryptoProvider): Promise<InitiatorAgreement> {
  checkBundleShape(bundle);
  await verifyBundleKeys(bundle, crypto);
  const secrets: Bytes[] = [];
  const dh = async (priv: Uint8Array, pub: Uint8Array) => {
    try {
      const out = await crypto.x25519(priv, pub);
      secrets.push(out);
      return out;
    } catch (cause) {
      throw cause instanceof InvalidKeyError ? new InvalidBundleError(`bundle key rejected: ${cause.message}`, { cause }) : cause;
    }
  };
  try {
    // DH1 needs no randomness, so a low-order signed pre-key is refused before anything is drawn.
    const dh1 = await dh(identity.privateKey, bundle.signedPreKey);
    const ephemeral = await crypto.x25519GenerateKeyPair();
    secrets.push(ephemeral.privateKey);
    const km = [dh1, await dh(ephemeral.privateKey, bundle.identityKey), await dh(ephemeral.privateKey, bundle.signedPreKey)];
    if (bundle.oneTimePreKey) km.push(await dh(ephemeral.privateKey, bundle.oneTimePreKey));
    return {
      sharedSecret: await deriveSharedSecret(crypto, km),
      associatedData: concatBytes(identity.publicKey, bundle.identityKey),
      establishment: {
        identityKey: copyBytes(identity.publicKey),
        ephemeralKey: ephemeral.publicKey,
        usedOneTimeKeyId: bundle.oneTimePreKey ? bundle.oneTimePreKeyId : null,
        signedPreKeyId: bundle.signedPreKeyId,
      },
    };
  } finally {
    crypto.zeroize(...secrets);
  }
}

/** Responder side, for one signed pre-key. A low-order key throws `InvalidKeyError`. */
export async function respond(
  keys: ResponderKeyPairs,
  establishment: { readonly identityKey: Uint8Array; readonly ephemeralKey: Uint8Array },
  crypto: CryptoProvider,
): Promise<Agreement> {
  const { identityKey: peerIdentity, ephemeralKey } = establishment;
  const secrets: Bytes[] = [];
  const dh = async (priv: Uint8Array, pub: Uint8Array) => {
    const out = await crypto.x25519(priv, pub);
    secrets.push(out);
    return out;
  };
  try {
    const km = [
      await dh(keys.signedPreKey.privateKey, peerIdentity),
      await dh(keys.identity.privateKey, ephemeralKey),
      await dh(keys.signedPreKey.privateKey, ephemeralKey),
    ];
    if (keys.oneTimePreKey) km.push(await dh(keys.oneTimePreKey.privateKey, ephemeralKey));
    return { sharedSecret: await deriveSharedSecret(crypto, km), associatedData: concatBytes(peerIdentity, keys.identity.publicKey) };
  } finally {
    crypto.zeroize(...secrets);
  }
}

/** SK = HKDF-SHA256(salt = 0^32, ikm = 0xFF^32 || DH1 || DH2 || DH3 [|| DH4], info = AgentMesh_X3DH_v1). */
async function deriveSharedSecret(crypto: CryptoProvider, parts: Uint8Array[]): Promise<Bytes> {
  const ikm = concatBytes(X3DH_PAD, ...parts);
  try {
    return await crypto.hkdfSha256(ikm, X3DH_SALT, X3DH_INFO, 32);
  } finally {
    ikm.fill(0);
  }
}
