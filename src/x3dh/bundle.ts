import { assertEd25519PublicKey, type CryptoProvider } from '../crypto/index.js';
import { toBase64Url, type Bytes } from '../encoding.js';
import { InvalidBundleError } from '../errors.js';
import { asRecord, parseJsonText, readBytes, readUint32 } from '../wire/json.js';
import { KEY_LENGTH } from '../wire/limits.js';

/** A responder's public pre-keys (the reference's `PreKeyBundle`, plus the Ed25519 identity key). */
export interface PreKeyBundle {
  /** X25519 identity key: the Montgomery form of `identityKeyEd`. */
  readonly identityKey: Bytes;
  /** Ed25519 identity key that signed the signed pre-key. */
  readonly identityKeyEd: Bytes;
  readonly signedPreKey: Bytes;
  readonly signedPreKeySignature: Bytes;
  readonly signedPreKeyId: number;
  readonly oneTimePreKey: Bytes | null;
  readonly oneTimePreKeyId: number | null;
}

/** The registry's JSON form of a bundle. Byte fields are base64url without padding. */
export interface BundleJson {
  identity_key: string;
  identity_key_ed: string;
  signed_pre_key: { key_id: number; public_key: string; signature: string };
  one_time_pre_key: { key_id: number; public_key: string } | null;
}

const fail = (message: string) => new InvalidBundleError(`invalid pre-key bundle: ${message}`);

export function encodeBundle(bundle: PreKeyBundle): BundleJson {
  return {
    identity_key: toBase64Url(bundle.identityKey),
    identity_key_ed: toBase64Url(bundle.identityKeyEd),
    signed_pre_key: {
      key_id: bundle.signedPreKeyId,
      public_key: toBase64Url(bundle.signedPreKey),
      signature: toBase64Url(bundle.signedPreKeySignature),
    },
    one_time_pre_key:
      bundle.oneTimePreKey && bundle.oneTimePreKeyId !== null
        ? { key_id: bundle.oneTimePreKeyId, public_key: toBase64Url(bundle.oneTimePreKey) }
        : null,
  };
}

/** Parses the registry JSON form (object or text). Accepts any base64 variant; checks every length. */
export function decodeBundle(input: unknown): PreKeyBundle {
  const record = asRecord(parseJsonText(input, fail, 'bundle'), fail, 'bundle');
  const spk = asRecord(record.signed_pre_key, fail, 'signed_pre_key');
  const otkValue = record.one_time_pre_key;
  if (otkValue === undefined) throw fail('field "one_time_pre_key" is missing (null when there is none)');
  const otk = otkValue === null ? null : asRecord(otkValue, fail, 'one_time_pre_key');
  return {
    identityKey: readBytes(record, 'identity_key', fail, KEY_LENGTH),
    identityKeyEd: readBytes(record, 'identity_key_ed', fail, KEY_LENGTH),
    signedPreKey: readBytes(spk, 'public_key', fail, KEY_LENGTH),
    signedPreKeySignature: readBytes(spk, 'signature', fail, 64),
    signedPreKeyId: readUint32(spk, 'key_id', fail),
    oneTimePreKey: otk ? readBytes(otk, 'public_key', fail, KEY_LENGTH) : null,
    oneTimePreKeyId: otk ? readUint32(otk, 'key_id', fail) : null,
  };
}

/** Structural checks for bundles built in code rather than decoded. */
export function checkBundleShape(bundle: PreKeyBundle): void {
  const key = (value: unknown, name: string, length = KEY_LENGTH) => {
    if (!(value instanceof Uint8Array) || value.length !== length) throw fail(`${name} must be ${length} bytes`);
  };
  if (typeof bundle !== 'object' || bundle === null) throw fail('not an object');
  key(bundle.identityKey, 'identityKey');
  key(bundle.identityKeyEd, 'identityKeyEd');
  key(bundle.signedPreKey, 'signedPreKey');
  key(bundle.signedPreKeySignature, 'signedPreKeySignature', 64);
  const id = (value: unknown, name: string) => {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffffffff) throw fail(`${name} must be a uint32`);
  };
  id(bundle.signedPreKeyId, 'signedPreKeyId');
  if (bundle.oneTimePreKey != null || bundle.oneTimePreKeyId != null) {
    key(bundle.oneTimePreKey, 'oneTimePreKey');
    id(bundle.oneTimePreKeyId, 'oneTimePreKeyId');
  }
}

/**
 * The bundle's keys hang together: the signed pre-key verifies under `identityKeyEd`, and
 * `identityKey` is the X25519 form of `identityKeyEd`, which is a usable Ed25519 key (canonical, of
 * prime order). Throws `InvalidBundleError` otherwise.
 */
export async function verifyBundleKeys(bundle: PreKeyBundle, crypto: CryptoProvider): Promise<void> {
  // Refused before any signature check, with the reason (a small-order key matches forged signatures).
  try {
    assertEd25519PublicKey(bundle.identityKeyEd, 'identity_key_ed');
  } catch (cause) {
    throw new InvalidBundleError((cause as Error).message, { cause });
  }
  if (!(await crypto.ed25519Verify(bundle.identityKeyEd, bundle.signedPreKey, bundle.signedPreKeySignature))) {
    throw new InvalidBundleError('signed pre-key signature verification failed: the pre-key was not signed by the claimed identity key');
  }
  let montgomery: Bytes;
  try {
    montgomery = crypto.ed25519ToX25519Public(bundle.identityKeyEd);
  } catch (cause) {
    throw new InvalidBundleError('identity_key_ed is not a valid Ed25519 public key', { cause });
  }
  if (!crypto.constantTimeEqual(montgomery, bundle.identityKey)) {
    throw new InvalidBundleError('identity_key is not the X25519 form of identity_key_ed');
  }
}
