import { toBase64Url, type Bytes } from '../encoding.js';
import { InvalidEstablishmentError } from '../errors.js';
import { asRecord, parseJsonText, readBytes, readOptionalUint32 } from '../wire/json.js';
import { KEY_LENGTH } from '../wire/limits.js';

/** What the initiator sends so the responder can complete X3DH (the reference's `ChannelEstablishment`). */
export interface ChannelEstablishment {
  /** The initiator's X25519 identity key. */
  readonly identityKey: Bytes;
  readonly ephemeralKey: Bytes;
  readonly usedOneTimeKeyId: number | null;
  /** Which signed pre-key the initiator used; absent in the reference's form. */
  readonly signedPreKeyId?: number | null;
}

export interface EstablishmentJson {
  identity_key: string;
  ephemeral_key: string;
  used_opk_id: number | null;
  spk_id?: number;
}

const fail = (message: string) => new InvalidEstablishmentError(`invalid establishment: ${message}`);

export function encodeEstablishment(e: ChannelEstablishment): EstablishmentJson {
  const json: EstablishmentJson = {
    identity_key: toBase64Url(e.identityKey),
    ephemeral_key: toBase64Url(e.ephemeralKey),
    used_opk_id: e.usedOneTimeKeyId,
  };
  if (e.signedPreKeyId !== undefined && e.signedPreKeyId !== null) json.spk_id = e.signedPreKeyId;
  return json;
}

export function decodeEstablishment(input: unknown): ChannelEstablishment {
  const record = asRecord(parseJsonText(input, fail, 'establishment'), fail, 'establishment');
  if (!('used_opk_id' in record)) throw fail('field "used_opk_id" is missing (null when none was used)');
  return {
    identityKey: readBytes(record, 'identity_key', fail, KEY_LENGTH),
    ephemeralKey: readBytes(record, 'ephemeral_key', fail, KEY_LENGTH),
    usedOneTimeKeyId: readOptionalUint32(record, 'used_opk_id', fail),
    signedPreKeyId: readOptionalUint32(record, 'spk_id', fail),
  };
}
