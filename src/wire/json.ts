import { fromBase64Any, type Bytes } from '../encoding.js';
import { LIMITS } from './limits.js';

/**
 * Field readers for untrusted JSON. Each throws the caller's error type so that a bad bundle
 * surfaces as `InvalidBundleError`, a bad message as `InvalidMessageError`, and so on.
 */
export type ErrorFactory = (message: string) => Error;

export function parseJsonText(text: unknown, fail: ErrorFactory, what: string): unknown {
  if (typeof text !== 'string') return text;
  if (text.length > LIMITS.maxJsonChars) throw fail(`${what} is larger than ${LIMITS.maxJsonChars} characters`);
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw fail(`${what} is not valid JSON: ${(cause as Error).message}`);
  }
}

/**
 * Whether JSON text nests arrays and objects deeper than `maxDepth`. A linear scan, no recursion:
 * parsers use it to refuse deep input before `JSON.parse`, so that nothing downstream (another
 * implementation's recursive parser, a `JSON.stringify`) meets a value it cannot walk.
 */
export function jsonNestingExceeds(text: string, maxDepth: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > maxDepth) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

export function asRecord(value: unknown, fail: ErrorFactory, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw fail(`${what} must be a JSON object`);
  return value as Record<string, unknown>;
}

export function readBytes(
  record: Record<string, unknown>,
  field: string,
  fail: ErrorFactory,
  length?: number,
  maxLength = LIMITS.maxCiphertextBytes,
): Bytes {
  const value = record[field];
  if (typeof value !== 'string') throw fail(`field "${field}" must be a base64 string`);
  // 4 characters carry 3 bytes; refuse oversized input before decoding it.
  if (value.length > Math.ceil((maxLength * 4) / 3) + 4) throw fail(`field "${field}" is too long`);
  let bytes: Bytes;
  try {
    bytes = fromBase64Any(value);
  } catch {
    throw fail(`field "${field}" is not valid base64`);
  }
  if (length !== undefined && bytes.length !== length) {
    throw fail(`field "${field}" must decode to ${length} bytes, got ${bytes.length}`);
  }
  return bytes;
}

export function readUint32(record: Record<string, unknown>, field: string, fail: ErrorFactory): number {
  const value = record[field];
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw fail(`field "${field}" must be an integer from 0 to 4294967295`);
  }
  return value === 0 ? 0 : value; // normalizes -0
}

export function readOptionalUint32(record: Record<string, unknown>, field: string, fail: ErrorFactory): number | null {
  const value = record[field];
  if (value === undefined || value === null) return null;
  return readUint32(record, field, fail);
}
