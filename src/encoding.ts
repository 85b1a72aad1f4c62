import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { base58, base64urlnopad } from '@scure/base';

/**
 * Byte helpers shared by every layer. Encodings come from @scure/base, except hex: every state
 * save and restore is mostly hex, and @noble/hashes' table-driven codec makes a load+save of a
 * channel 40% faster.
 */

export type Bytes = Uint8Array<ArrayBuffer>;

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });

export function utf8(text: string): Bytes {
  return textEncoder.encode(text) as Bytes;
}

/** Strict UTF-8 decoding: invalid sequences throw instead of turning into U+FFFD. */
export function fromUtf8(bytes: Uint8Array): string {
  return textDecoder.decode(bytes);
}

export function toHex(bytes: Uint8Array): string {
  return bytesToHex(bytes);
}

/** Either case; throws on odd lengths and non-hex characters. */
export function fromHex(text: string): Bytes {
  return hexToBytes(text) as Bytes;
}

/** base64url without padding: the form every byte field takes on the wire. */
export function toBase64Url(bytes: Uint8Array): string {
  return base64urlnopad.encode(bytes);
}

/** Accepts standard or URL-safe base64, with or without padding. */
export function fromBase64Any(text: string): Bytes {
  // Padding is stripped with a loop: /=+$/ backtracks quadratically on a long run of '=' that is
  // not at the end (a 100 KB field of them took seconds).
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 0x3d) end--;
  const normalized = text.slice(0, end).replace(/\+/g, '-').replace(/\//g, '_');
  return base64urlnopad.decode(normalized) as Bytes;
}

export function toBase58(bytes: Uint8Array): string {
  return base58.encode(bytes);
}

export function fromBase58(text: string): Bytes {
  return base58.decode(text) as Bytes;
}

export function concatBytes(...parts: Uint8Array[]): Bytes {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

export function copyBytes(bytes: Uint8Array): Bytes {
  return new Uint8Array(bytes) as Bytes;
}

export function writeUint32BE(target: Uint8Array, offset: number, value: number): void {
  target[offset] = value >>> 24;
  target[offset + 1] = value >>> 16;
  target[offset + 2] = value >>> 8;
  target[offset + 3] = value;
}

export function readUint32BE(source: Uint8Array, offset: number): number {
  return ((source[offset]! << 24) | (source[offset + 1]! << 16) | (source[offset + 2]! << 8) | source[offset + 3]!) >>> 0;
}
