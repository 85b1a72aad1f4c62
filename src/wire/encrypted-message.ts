import { readUint32BE, toBase64Url, writeUint32BE, type Bytes } from '../encoding.js';
import { InvalidMessageError } from '../errors.js';
import { asRecord, parseJsonText, readBytes, readUint32 } from './json.js';
import { HEADER_LENGTH, KEY_LENGTH, LIMITS, NONCE_LENGTH, TAG_LENGTH } from './limits.js';

const fail = (message: string) => new InvalidMessageError(message);

/** The ratchet header, sent in clear: sender's ratchet public key, previous chain length, message number. */
export interface MessageHeader {
  readonly dhPublicKey: Bytes;
  readonly previousChainLength: number;
  readonly messageNumber: number;
}

/** JSON frame form of a message (AgentMesh `message` frame body). */
export interface MessageFrameBody {
  header: { dh: string; pn: number; n: number };
  ciphertext: string;
}

export function encodeHeader(header: MessageHeader): Bytes {
  const out = new Uint8Array(HEADER_LENGTH) as Bytes;
  encodeHeaderInto(out, 0, header);
  return out;
}

/** Writes the 40 header bytes at `offset` (the ratchet writes them straight after the associated data). */
export function encodeHeaderInto(target: Uint8Array, offset: number, header: MessageHeader): void {
  target.set(header.dhPublicKey, offset);
  writeUint32BE(target, offset + 32, header.previousChainLength);
  writeUint32BE(target, offset + 36, header.messageNumber);
}

function checkHeader(header: MessageHeader): void {
  if (header.dhPublicKey.length !== KEY_LENGTH) throw fail(`header ratchet key must be 32 bytes, got ${header.dhPublicKey.length}`);
  for (const [name, v] of [
    ['previousChainLength', header.previousChainLength],
    ['messageNumber', header.messageNumber],
  ] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw fail(`header ${name} must be a uint32`);
  }
}

function checkCiphertext(ciphertext: Uint8Array): void {
  if (ciphertext.length < NONCE_LENGTH + TAG_LENGTH) {
    throw fail(`ciphertext field is ${ciphertext.length} bytes; nonce and tag alone take ${NONCE_LENGTH + TAG_LENGTH}`);
  }
  if (ciphertext.length > LIMITS.maxCiphertextBytes) throw fail(`ciphertext larger than ${LIMITS.maxCiphertextBytes} bytes`);
}

/** A Double Ratchet message: header plus `nonce || ciphertext || tag`. */
export class EncryptedMessage {
  readonly header: MessageHeader;
  readonly ciphertext: Bytes;

  constructor(header: MessageHeader, ciphertext: Uint8Array) {
    checkHeader(header);
    checkCiphertext(ciphertext);
    this.header = header;
    this.ciphertext = ciphertext as Bytes;
  }

  get headerBytes(): Bytes {
    return encodeHeader(this.header);
  }

  /** AEAD associated data: `associatedData || header`, in one allocation. */
  authenticatedData(associatedData: Uint8Array): Bytes {
    const out = new Uint8Array(associatedData.length + HEADER_LENGTH) as Bytes;
    out.set(associatedData, 0);
    encodeHeaderInto(out, associatedData.length, this.header);
    return out;
  }

  /** `uint32_be(40) || header || ciphertext`, the reference implementation's binary form. */
  serialize(): Bytes {
    const out = new Uint8Array(4 + HEADER_LENGTH + this.ciphertext.length) as Bytes;
    writeUint32BE(out, 0, HEADER_LENGTH);
    encodeHeaderInto(out, 4, this.header);
    out.set(this.ciphertext, 4 + HEADER_LENGTH);
    return out;
  }

  static deserialize(data: Uint8Array): EncryptedMessage {
    if (!(data instanceof Uint8Array)) throw fail('a serialized message must be a Uint8Array');
    if (data.length < 4) throw fail('message too short: no header length');
    const headerLength = readUint32BE(data, 0);
    if (headerLength !== HEADER_LENGTH) throw fail(`invalid header length: ${headerLength}, expected ${HEADER_LENGTH}`);
    if (data.length < 4 + HEADER_LENGTH) throw fail('message truncated inside the header');
    const header: MessageHeader = {
      dhPublicKey: data.slice(4, 36) as Bytes,
      previousChainLength: readUint32BE(data, 36),
      messageNumber: readUint32BE(data, 40),
    };
    return new EncryptedMessage(header, data.slice(4 + HEADER_LENGTH));
  }

  toFrame(): MessageFrameBody {
    return {
      header: { dh: toBase64Url(this.header.dhPublicKey), pn: this.header.previousChainLength, n: this.header.messageNumber },
      ciphertext: toBase64Url(this.ciphertext),
    };
  }

  /** Accepts a frame object or its JSON text; any base64 variant. */
  static fromFrame(frame: unknown): EncryptedMessage {
    const record = asRecord(parseJsonText(frame, fail, 'message frame'), fail, 'message frame');
    const header = asRecord(record.header, fail, 'message header');
    return new EncryptedMessage(
      {
        dhPublicKey: readBytes(header, 'dh', fail, KEY_LENGTH),
        previousChainLength: readUint32(header, 'pn', fail),
        messageNumber: readUint32(header, 'n', fail),
      },
      readBytes(record, 'ciphertext', fail),
    );
  }
}
