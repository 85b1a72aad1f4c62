import { toBase64Url, type Bytes } from '../encoding.js';
import { InvalidBundleError, PreKeyNotFoundError } from '../errors.js';
import type { OneTimePreKey, X3DHKeyManager } from '../x3dh/key-manager.js';
import { asRecord, parseJsonText, readBytes, readUint32 } from '../wire/json.js';
import { KEY_LENGTH } from '../wire/limits.js';

/**
 * The body of `PUT /v1/agents/{did}/prekeys`: the identity keys, the current signed pre-key and
 * a batch of one-time pre-keys. Client and Worker share this codec.
 */
export interface PreKeyUpload {
  readonly identityKey: Bytes;
  readonly identityKeyEd: Bytes;
  readonly signedPreKey: { readonly keyId: number; readonly publicKey: Bytes; readonly signature: Bytes };
  readonly oneTimePreKeys: readonly { readonly keyId: number; readonly publicKey: Bytes }[];
}

export interface PreKeyUploadJson {
  identity_key: string;
  identity_key_ed: string;
  signed_pre_key: { key_id: number; public_key: string; signature: string };
  one_time_pre_keys: { key_id: number; public_key: string }[];
}

/** Hard bound on one upload's one-time pre-keys, whatever a server allows. */
export const MAX_UPLOAD_ONE_TIME_PRE_KEYS = 1000;

const fail = (message: string) => new InvalidBundleError(`invalid pre-key upload: ${message}`);

export function encodePreKeyUpload(upload: PreKeyUpload): PreKeyUploadJson {
  return {
    identity_key: toBase64Url(upload.identityKey),
    identity_key_ed: toBase64Url(upload.identityKeyEd),
    signed_pre_key: {
      key_id: upload.signedPreKey.keyId,
      public_key: toBase64Url(upload.signedPreKey.publicKey),
      signature: toBase64Url(upload.signedPreKey.signature),
    },
    one_time_pre_keys: upload.oneTimePreKeys.map((k) => ({ key_id: k.keyId, public_key: toBase64Url(k.publicKey) })),
  };
}

/** Parses an upload; checks lengths, ids and that no one-time pre-key id appears twice. */
export function decodePreKeyUpload(input: unknown): PreKeyUpload {
  const record = asRecord(parseJsonText(input, fail, 'upload'), fail, 'upload');
  const spk = asRecord(record.signed_pre_key, fail, 'signed_pre_key');
  const list = record.one_time_pre_keys ?? [];
  if (!Array.isArray(list)) throw fail('"one_time_pre_keys" must be an array');
  if (list.length > MAX_UPLOAD_ONE_TIME_PRE_KEYS) throw fail(`more than ${MAX_UPLOAD_ONE_TIME_PRE_KEYS} one-time pre-keys`);
  const seen = new Set<number>();
  const oneTimePreKeys = list.map((item, i) => {
    const k = asRecord(item, fail, `one_time_pre_keys[${i}]`);
    const keyId = readUint32(k, 'key_id', fail);
    if (seen.has(keyId)) throw fail(`one-time pre-key id ${keyId} appears twice`);
    seen.add(keyId);
    return { keyId, publicKey: readBytes(k, 'public_key', fail, KEY_LENGTH) };
  });
  return {
    identityKey: readBytes(record, 'identity_key', fail, KEY_LENGTH),
    identityKeyEd: readBytes(record, 'identity_key_ed', fail, KEY_LENGTH),
    signedPreKey: {
      keyId: readUint32(spk, 'key_id', fail),
      publicKey: readBytes(spk, 'public_key', fail, KEY_LENGTH),
      signature: readBytes(spk, 'signature', fail, 64),
    },
    oneTimePreKeys,
  };
}

/** The upload for a key manager's current signed pre-key and the given one-time pre-keys. */
export function uploadFromKeyManager(keyManager: X3DHKeyManager, oneTimePreKeys: readonly OneTimePreKey[] = []): PreKeyUpload {
  const spk = keyManager.signedPreKey;
  if (!spk) throw new PreKeyNotFoundError('no signed pre-key yet: call generateSignedPreKey() first');
  return {
    identityKey: keyManager.identityKey.publicKey,
    identityKeyEd: keyManager.identityKeyEd,
    signedPreKey: { keyId: spk.keyId, publicKey: spk.keyPair.publicKey, signature: spk.signature },
    oneTimePreKeys: oneTimePreKeys.map((k) => ({ keyId: k.keyId, publicKey: k.keyPair.publicKey })),
  };
}
