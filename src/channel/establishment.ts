import { toBase64Url, type Bytes } from '../encoding.js';
import { InvalidEstablishmentError } from '../errors.js';
import { asRecord, parseJsonText, readBytes, readOptionalUint32 } from '../wire/json.js';
import { KEY_LENGTH } from '../wire/limits.js';
import type { ChannelEstablishment } from '../x3dh/agreement.js';

// The establishment is X3DH's wire message, so its type lives with the agreement; this file is its JSON codec.
export type { ChannelEstablishment };

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
