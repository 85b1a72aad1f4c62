import { getDefaultCryptoProvider, type CryptoProvider } from '../crypto/index.js';
import { toHex } from '../encoding.js';
import { isValidDid } from '../identity/did.js';
import { EncryptedMessage } from '../wire/encrypted-message.js';
import { asRecord, jsonNestingExceeds, readBytes, readOptionalUint32 } from '../wire/json.js';
import { KEY_LENGTH } from '../wire/limits.js';
import { InvalidFrameError } from './errors.js';
import { parseTimestamp } from './signing.js';

/**
 * AgentMesh v1 relay frames: `{ v, type, from, to, id, ts, … }`. The relay and the clients both
 * validate with these functions, so what one accepts the other does too.
 */

export const FRAME_VERSION = 1;
/** `from`/`to` of frames the relay itself sends or receives (it has no DID). */
export const RELAY_ADDRESS = 'relay';
/** Frames between an agent and the relay itself; every other type is routed from agent to agent. */
export const RELAY_CONTROL_TYPES = ['connect', 'connected', 'ack', 'heartbeat'] as const;
/**
 * Routed types whose fields the relay checks. Other types (the trust handshake's `trust_*`, an
 * agent's `error` answer, …) pass through as opaque, size-limited JSON.
 */
export const ROUTED_FRAME_TYPES = ['message', 'knock', 'knock_accept', 'knock_reject'] as const;
export type RoutedFrameType = string;
/** Largest frame text the relay and clients accept by default (UTF-16 code units). */
export const DEFAULT_MAX_FRAME_CHARS = 256 * 1024;
/** Deepest nesting of arrays and objects a frame may have (AgentMesh frames need 3). */
export const MAX_FRAME_DEPTH = 32;

export interface Frame {
  v: number;
  type: string;
  from: string;
  to: string;
  id: string;
  ts: string;
  [field: string]: unknown;
}

/** A frame from one agent (DID) to another. */
export type RoutedFrame = Frame;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const TYPE = /^[a-z][a-z0-9_]{0,63}$/;
const MAX_KNOCK_ID_CHARS = 64;
const MAX_REASON_CHARS = 512;

const fail = (message: string) => new InvalidFrameError(message);

export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value);
}

/** Whether frames of this type go from agent to agent (rather than to or from the relay). */
export function isRoutedType(type: unknown): type is RoutedFrameType {
  return typeof type === 'string' && TYPE.test(type) && !(RELAY_CONTROL_TYPES as readonly string[]).includes(type);
}

/** A random (version 4) UUID from the crypto provider; `crypto.randomUUID` is missing in insecure browser contexts. */
export function newFrameId(crypto: CryptoProvider = getDefaultCryptoProvider()): string {
  const b = crypto.randomBytes(16);
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = toHex(b);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function createFrame(
  type: string,
  from: string,
  to: string,
  body: Record<string, unknown> = {},
  options: { crypto?: CryptoProvider; now?: () => number; id?: string } = {},
): Frame {
  return {
    ...body,
    v: FRAME_VERSION,
    type,
    from,
    to,
    id: options.id ?? newFrameId(options.crypto),
    ts: new Date((options.now ?? Date.now)()).toISOString(),
  };
}

function isAddress(value: unknown): value is string {
  return value === RELAY_ADDRESS || isValidDid(value);
}

/** Parses frame JSON text and checks the envelope every frame shares. */
export function parseFrame(text: unknown, maxChars = DEFAULT_MAX_FRAME_CHARS): Frame {
  if (typeof text !== 'string') throw fail('a frame is JSON text');
  if (text.length > maxChars) throw fail(`frame larger than ${maxChars} characters`);
  if (jsonNestingExceeds(text, MAX_FRAME_DEPTH)) throw fail(`frame nested deeper than ${MAX_FRAME_DEPTH} levels`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw fail('frame is not valid JSON');
  }
  return checkEnvelope(value);
}

export function checkEnvelope(value: unknown): Frame {
  const f = asRecord(value, fail, 'frame');
  if (f.v !== FRAME_VERSION) throw fail(`unsupported frame version ${typeof f.v === 'number' ? f.v : typeof f.v}; this relay speaks v${FRAME_VERSION}`);
  if (typeof f.type !== 'string' || !TYPE.test(f.type)) throw fail('field "type" must be a frame type');
  if (!isAddress(f.from)) throw fail('field "from" must be a DID');
  if (!isAddress(f.to)) throw fail('field "to" must be a DID');
  if (!isUuid(f.id)) throw fail('field "id" must be a UUID');
  try {
    parseTimestamp(f.ts);
  } catch {
    throw fail('field "ts" must be an ISO-8601 timestamp with a zone');
  }
  return f as Frame;
}

function readSignature(f: Record<string, unknown>): void {
  readBytes(f, 'signature', fail, 64);
}

function readKnockId(f: Record<string, unknown>): void {
  if (typeof f.knock_id !== 'string' || f.knock_id.length === 0 || f.knock_id.length > MAX_KNOCK_ID_CHARS) {
    throw fail('field "knock_id" must name the knock frame');
  }
}

/** Checks what a frame routed between agents must carry for its type. The payload stays opaque. */
export function checkRoutedFrame(frame: Frame): RoutedFrame {
  if (!isRoutedType(frame.type)) throw fail(`frames of type ${JSON.stringify(frame.type)} are not routed between agents`);
  if (!isValidDid(frame.from) || !isValidDid(frame.to)) throw fail('a routed frame goes from one DID to another');
  switch (frame.type) {
    default:
      break;
    case 'message': {
      try {
        EncryptedMessage.fromFrame(frame);
      } catch (cause) {
        throw new InvalidFrameError(`message frame: ${(cause as Error).message}`, { cause });
      }
      if (frame.x3dh !== undefined && frame.x3dh !== null) {
        const x = asRecord(frame.x3dh, fail, 'x3dh');
        readBytes(x, 'identity_key', fail, KEY_LENGTH);
        readBytes(x, 'ephemeral_key', fail, KEY_LENGTH);
        if (!('used_opk_id' in x)) throw fail('field "x3dh.used_opk_id" is missing (null when none was used)');
        readOptionalUint32(x, 'used_opk_id', fail);
        readOptionalUint32(x, 'spk_id', fail);
      }
      break;
    }
    case 'knock':
      asRecord(frame.intent, fail, 'intent');
      readSignature(frame);
      break;
    case 'knock_accept':
      readKnockId(frame);
      readSignature(frame);
      break;
    case 'knock_reject':
      readKnockId(frame);
      if (frame.reason !== undefined && (typeof frame.reason !== 'string' || frame.reason.length > MAX_REASON_CHARS)) {
        throw fail(`field "reason" must be a string of at most ${MAX_REASON_CHARS} characters`);
      }
      readSignature(frame);
      break;
  }
  return frame;
}

/** An `ack` names the frame it acknowledges in `ack_id`; `to` is that frame's sender. */
export function checkAckFrame(frame: Frame): { sender: string; ackId: string } {
  if (frame.type !== 'ack') throw fail('not an ack frame');
  if (!isUuid(frame.ack_id)) throw fail('field "ack_id" must be the UUID of the acknowledged frame');
  if (!isValidDid(frame.to)) throw fail('an ack goes to the sender of the acknowledged frame');
  return { sender: frame.to, ackId: frame.ack_id };
}
