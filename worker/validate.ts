import { DID_PREFIX, assertEd25519PublicKey, didFromPublicKey, fromBase64Any, isValidDid, type Bytes } from '../src/index.js';
import type { Config } from './config.js';
import { badRequest } from './http.js';

/** Field checks for registry bodies; each failure is a 400 with a code naming the field. */

const CAPABILITY = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$/;
const BASE64 = /^[A-Za-z0-9_\-+/]+={0,2}$/;
const utf8Length = (text: string) => new TextEncoder().encode(text).length;

export function readKey(value: unknown, field: string, length = 32): Bytes {
  if (typeof value !== 'string' || value.length > 200 || !BASE64.test(value)) {
    throw badRequest('invalid_field', `"${field}" must be base64url`);
  }
  let bytes: Bytes;
  try {
    bytes = fromBase64Any(value);
  } catch {
    throw badRequest('invalid_field', `"${field}" is not valid base64`);
  }
  if (bytes.length !== length) throw badRequest('invalid_field', `"${field}" must decode to ${length} bytes`);
  return bytes;
}

/**
 * A registrable DID: `did:agentmesh:` derived from this Ed25519 key, which must be a usable key
 * (canonical, of prime order). A small-order key would let the universal signature (R = identity,
 * S = 0) "prove possession" of a DID nobody holds, on backends that do not refuse it themselves.
 */
export function checkRegistration(did: unknown, publicKey: Bytes): string {
  if (typeof did !== 'string' || !isValidDid(did)) throw badRequest('invalid_did', '"did" must be a DID');
  if (!did.startsWith(DID_PREFIX)) {
    throw badRequest('unsupported_did', `only ${DID_PREFIX} DIDs, which a key proves, can be registered`);
  }
  try {
    assertEd25519PublicKey(publicKey, '"public_key"');
  } catch (error) {
    throw badRequest('invalid_key', (error as Error).message);
  }
  if (didFromPublicKey(publicKey) !== did) throw badRequest('did_mismatch', '"did" is not the DID derived from "public_key"');
  return did;
}

export function readCapabilities(value: unknown, config: Config): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw badRequest('invalid_field', '"capabilities" must be an array of strings');
  if (value.length > config.maxCapabilities) {
    throw badRequest('invalid_field', `at most ${config.maxCapabilities} capabilities`);
  }
  const out = new Set<string>();
  for (const c of value) {
    if (typeof c !== 'string' || !CAPABILITY.test(c)) {
      throw badRequest('invalid_field', 'a capability is 1-64 characters of letters, digits and . _ : / -');
    }
    out.add(c);
  }
  return [...out];
}

export function readCapability(value: string): string {
  if (!CAPABILITY.test(value)) throw badRequest('invalid_query', 'a capability is 1-64 characters of letters, digits and . _ : / -');
  return value;
}

/** Metadata is any JSON object up to a size; it is stored and returned as given. */
export function readMetadata(value: unknown, config: Config): string {
  if (value === undefined || value === null) return '{}';
  if (typeof value !== 'object' || Array.isArray(value)) throw badRequest('invalid_field', '"metadata" must be a JSON object');
  let text: string;
  try {
    text = JSON.stringify(value);
  } catch {
    throw badRequest('invalid_field', '"metadata" cannot be stored as JSON');
  }
  if (utf8Length(text) > config.maxMetadataBytes) {
    throw badRequest('invalid_field', `"metadata" is larger than ${config.maxMetadataBytes} bytes`);
  }
  return text;
}

export function readOptionalInt(value: string | null, field: string, min: number, max: number, fallback: number): number {
  if (value === null) return fallback;
  if (!/^\d{1,9}$/.test(value)) throw badRequest('invalid_query', `"${field}" must be an integer`);
  const n = Number(value);
  if (n < min || n > max) throw badRequest('invalid_query', `"${field}" must be from ${min} to ${max}`);
  return n;
}

export function requireDid(value: string): string {
  if (!isValidDid(value)) throw badRequest('invalid_did', 'the path names no valid DID');
  return value;
}
