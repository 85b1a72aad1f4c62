import type { CryptoProvider } from '../crypto/index.js';
import { toHex, type Bytes } from '../encoding.js';
import { parseDid } from '../identity/did.js';
import { asRecord, readBytes } from '../wire/json.js';
import type { Clock } from './clock.js';
import { InvalidTrustFrameError } from './errors.js';
import { TRUST_LIMITS } from './limits.js';

/** The AgentMesh v1 envelope every frame carries (AGENTMESH-FRAMES.md). */
export interface FrameEnvelope {
  readonly v: 1;
  readonly type: string;
  readonly from: string;
  readonly to: string;
  /** UUID v4. */
  readonly id: string;
  /** ISO-8601. */
  readonly ts: string;
}

/** A frame as it travels: the envelope plus its type's fields (JSON values only). */
export type AgentMeshFrame = FrameEnvelope & { readonly [field: string]: unknown };

/** A parsed frame: the envelope checked, the rest still to be read with the readers below. */
export type ParsedFrame = FrameEnvelope & { readonly fields: Record<string, unknown>; readonly tsMs: number };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
const FRAME_TYPE = /^[a-z][a-z0-9_]*$/;

const fail = (message: string) => new InvalidTrustFrameError(`invalid frame: ${message}`);

export function randomUuid(crypto: CryptoProvider): string {
  const b = crypto.randomBytes(16);
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = toHex(b);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

export function envelope(type: string, from: string, to: string, crypto: CryptoProvider, now: Clock): FrameEnvelope {
  return { v: 1, type, from, to, id: randomUuid(crypto), ts: isoTime(now()) };
}

/** Reads an untrusted frame (object or JSON text) and checks its envelope. */
export function parseFrame(input: unknown): ParsedFrame {
  let value = input;
  if (typeof value === 'string') {
    if (value.length > TRUST_LIMITS.maxFrameChars) throw fail(`longer than ${TRUST_LIMITS.maxFrameChars} characters`);
    try {
      value = JSON.parse(value) as unknown;
    } catch {
      throw fail('not valid JSON');
    }
  }
  const fields = asObject(value, 'frame');
  if (fields.v !== 1) throw fail('"v" must be 1');
  const type = readString(fields, 'type', TRUST_LIMITS.maxTypeLength);
  if (!FRAME_TYPE.test(type)) throw fail('"type" must be a lowercase identifier');
  const from = readDid(fields, 'from');
  const to = readDid(fields, 'to');
  const id = readString(fields, 'id', 36);
  if (!UUID.test(id)) throw fail('"id" must be a UUID');
  const ts = readString(fields, 'ts', 40);
  const tsMs = ISO_8601.test(ts) ? Date.parse(ts) : Number.NaN;
  if (!Number.isFinite(tsMs)) throw fail('"ts" must be an ISO-8601 time');
  return { v: 1, type, from, to, id, ts, tsMs, fields };
}

export function asObject(value: unknown, what: string): Record<string, unknown> {
  return asRecord(value, fail, what);
}

export function readString(record: Record<string, unknown>, field: string, maxLength: number, pattern?: RegExp): string {
  const value = record[field];
  if (typeof value !== 'string') throw fail(`"${field}" must be a string`);
  if (value.length === 0 || value.length > maxLength) throw fail(`"${field}" must be 1 to ${maxLength} characters`);
  if (pattern && !pattern.test(value)) throw fail(`"${field}" has characters it may not hold`);
  return value;
}

export function readOptionalString(record: Record<string, unknown>, field: string, maxLength: number): string | undefined {
  return record[field] === undefined || record[field] === null ? undefined : readString(record, field, maxLength);
}

export function readInt(record: Record<string, unknown>, field: string, min: number, max: number): number {
  const value = record[field];
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw fail(`"${field}" must be an integer from ${min} to ${max}`);
  }
  return value;
}

export function readBoolean(record: Record<string, unknown>, field: string): boolean {
  const value = record[field];
  if (typeof value !== 'boolean') throw fail(`"${field}" must be true or false`);
  return value;
}

export function readStringList(record: Record<string, unknown>, field: string): string[] {
  const value = record[field];
  if (!Array.isArray(value)) throw fail(`"${field}" must be an array`);
  if (value.length > TRUST_LIMITS.maxListItems) throw fail(`"${field}" holds more than ${TRUST_LIMITS.maxListItems} items`);
  return value.map((item, i) => {
    if (typeof item !== 'string' || item.length === 0 || item.length > TRUST_LIMITS.maxListItemLength) {
      throw fail(`"${field}"[${i}] must be a string of 1 to ${TRUST_LIMITS.maxListItemLength} characters`);
    }
    return item;
  });
}

export function readDid(record: Record<string, unknown>, field: string): string {
  const value = record[field];
  try {
    return parseDid(value).did;
  } catch (cause) {
    throw new InvalidTrustFrameError(`invalid frame: "${field}" is not a DID we accept`, { cause });
  }
}

/** A base64 field of exactly `length` bytes (any base64 variant, as the registry accepts). */
export function readKeyBytes(record: Record<string, unknown>, field: string, length: number): Bytes {
  return readBytes(record, field, fail, length, length);
}

/** An `error` frame `{ code, message }` (AGENTMESH-FRAMES.md). */
export function errorFrame(from: string, to: string, code: string, message: string, crypto: CryptoProvider, now: Clock): AgentMeshFrame {
  return { ...envelope('error', from, to, crypto, now), code, message: message.slice(0, TRUST_LIMITS.maxReasonLength) };
}

/** The sender of an unparsed frame if it reads as a DID, else `fallback` (whom an error answer goes to). */
export function senderOf(input: unknown, fallback: string): string {
  const from = typeof input === 'object' && input !== null ? (input as { from?: unknown }).from : undefined;
  if (typeof from !== 'string') return fallback;
  try {
    return parseDid(from).did;
  } catch {
    return fallback;
  }
}
