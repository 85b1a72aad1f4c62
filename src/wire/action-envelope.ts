/**
 * The action envelope: how a channel opened under a KNOCK carries each message's action inside the
 * AEAD plaintext, so the receiver can check it against the grant. Only the byte layout lives here;
 * negotiation is in `trust/knock-frames.ts`, the check in `bridge/trusted-channel.ts`. Not part of
 * AgentMesh v1: a channel uses it only when both sides offered it in the KNOCK exchange.
 *
 *   envelope = version (1 byte, 0x01) || action length n (uint16, big-endian) || action (n bytes, UTF-8) || body
 *
 * n = 0 names no action. The whole envelope is the plaintext the ratchet seals, so the action is
 * encrypted and covered by the same Poly1305 tag as the body: nobody on the path can read or change it.
 */
import { fromUtf8, utf8, type Bytes } from '../encoding.js';
import { InvalidMessageError } from '../errors.js';

/** The envelope version a KNOCK offers (`action_envelope: [1]`) and an acceptance selects (`action_envelope: 1`). */
export const ACTION_ENVELOPE_VERSION = 1;

/** Longest action, in UTF-8 bytes: room for the 128 characters a send's intent may have, in any script. */
export const MAX_ENVELOPE_ACTION_BYTES = 1024;

/** Version byte and action length. */
const HEAD_BYTES = 3;

/** A new buffer `0x01 || uint16_be(n) || action || body` (an empty action names none); the caller zeroes it once sealed. */
export function sealEnvelope(action: string | null, body: Uint8Array): Bytes {
  const name = action === null ? new Uint8Array(0) : utf8(action);
  if (name.length > MAX_ENVELOPE_ACTION_BYTES) {
    throw new InvalidMessageError(`an enveloped action takes at most ${MAX_ENVELOPE_ACTION_BYTES} UTF-8 bytes (got ${name.length})`);
  }
  const out = new Uint8Array(HEAD_BYTES + name.length + body.length) as Bytes;
  out[0] = ACTION_ENVELOPE_VERSION;
  out[1] = name.length >>> 8;
  out[2] = name.length & 0xff;
  out.set(name, HEAD_BYTES);
  out.set(body, HEAD_BYTES + name.length);
  return out;
}

export interface OpenedEnvelope {
  /** The action the sender named; null when it named none. */
  readonly action: string | null;
  /** Where the body starts in the plaintext. */
  readonly bodyOffset: number;
}

/** Reads the envelope of a decrypted plaintext without copying. Throws `InvalidMessageError`. */
export function openEnvelope(plaintext: Uint8Array): OpenedEnvelope {
  if (plaintext.length < HEAD_BYTES) throw new InvalidMessageError(`invalid action envelope: shorter than its ${HEAD_BYTES}-byte head`);
  if (plaintext[0] !== ACTION_ENVELOPE_VERSION) {
    throw new InvalidMessageError(`invalid action envelope: version ${plaintext[0]}, expected ${ACTION_ENVELOPE_VERSION}`);
  }
  const n = (plaintext[1]! << 8) | plaintext[2]!;
  if (n > MAX_ENVELOPE_ACTION_BYTES) throw new InvalidMessageError(`invalid action envelope: action of ${n} bytes (> ${MAX_ENVELOPE_ACTION_BYTES})`);
  if (plaintext.length < HEAD_BYTES + n) throw new InvalidMessageError(`invalid action envelope: action of ${n} bytes runs past the end`);
  if (n === 0) return { action: null, bodyOffset: HEAD_BYTES };
  let action: string;
  try {
    action = fromUtf8(plaintext.subarray(HEAD_BYTES, HEAD_BYTES + n));
  } catch (cause) {
    throw new InvalidMessageError('invalid action envelope: the action is not UTF-8', { cause });
  }
  // The decoder drops a leading byte-order mark: one action, one encoding.
  if (utf8(action).length !== n) throw new InvalidMessageError('invalid action envelope: the action starts with a byte-order mark');
  return { action, bodyOffset: HEAD_BYTES + n };
}
