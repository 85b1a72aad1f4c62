import { getDefaultCryptoProvider, sha256, type CryptoProvider } from '../crypto/index.js';
import { fromBase64Any, toBase64Url, toHex, utf8, type Bytes } from '../encoding.js';
import type { AgentIdentity } from '../identity/agent-identity.js';
import { isValidDid } from '../identity/did.js';
import { RequestAuthError } from './errors.js';

/**
 * Request signing shared by the SDK clients and the Worker, so both build the string-to-sign
 * from this one module.
 *
 * Header: `Authorization: Ed25519-Timestamp <did> <iso8601> <base64url(signature)>`.
 * Our signature covers timestamp, method, path (with query) and SHA-256 of the body; the
 * AgentMesh draft's form signs the timestamp alone, which anyone who sees one request can replay
 * against any endpoint inside the window, so servers refuse it unless configured otherwise.
 */

export const AUTH_SCHEME = 'Ed25519-Timestamp';
/** Accepted clock difference either way. */
export const AUTH_WINDOW_MS = 5 * 60 * 1000;
/** Method name signed for the relay's `connect` frame (no HTTP request carries it). */
export const CONNECT_METHOD = 'CONNECT';

const CANONICAL_PREFIX = 'AgentMesh-Request-v1';
const MAX_HEADER_CHARS = 512;
const MAX_PATH_CHARS = 2048;
const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/;
const METHOD = /^[A-Z]{1,16}$/;
const BASE64 = /^[A-Za-z0-9_\-+/]+={0,2}$/;

export interface ParsedAuthorization {
  readonly did: string;
  readonly timestamp: string;
  readonly timestampMs: number;
  readonly signature: Bytes;
}

/** Which form a verified signature had. */
export type SignatureForm = 'request' | 'timestamp-only';

/** Hex SHA-256 of the body (of nothing when there is none). */
export function bodyDigest(body?: Uint8Array | string | null): string {
  const bytes = body == null ? new Uint8Array(0) : typeof body === 'string' ? utf8(body) : body;
  return toHex(sha256(bytes));
}

/** The exact bytes our clients sign for one request. */
export function canonicalRequest(timestamp: string, method: string, path: string, digestHex: string): Bytes {
  if (!METHOD.test(method)) throw new RequestAuthError('invalid_request', `not an HTTP method: ${JSON.stringify(method.slice(0, 20))}`);
  if (!path.startsWith('/') || path.length > MAX_PATH_CHARS || /[\s]/.test(path)) {
    throw new RequestAuthError('invalid_request', 'the signed path must start with "/", hold no whitespace and be at most 2048 characters');
  }
  return utf8([CANONICAL_PREFIX, timestamp, method, path, digestHex].join('\n'));
}

/** The path whose `connect` frame the relay authenticates. */
export function relayPath(did: string): string {
  return `/v1/agents/${did}/relay`;
}

export function parseTimestamp(timestamp: unknown): number {
  if (typeof timestamp !== 'string' || timestamp.length > 40 || !ISO_TIMESTAMP.test(timestamp)) {
    throw new RequestAuthError('invalid_authorization', 'the timestamp must be ISO-8601 with a zone, e.g. 2026-01-01T00:00:00.000Z');
  }
  const ms = Date.parse(timestamp);
  if (!Number.isFinite(ms)) throw new RequestAuthError('invalid_authorization', 'the timestamp is not a real date');
  return ms;
}

export function parseSignature(signature: unknown): Bytes {
  if (typeof signature !== 'string' || signature.length > 100 || !BASE64.test(signature)) {
    throw new RequestAuthError('invalid_authorization', 'the signature must be base64url');
  }
  let bytes: Bytes;
  try {
    bytes = fromBase64Any(signature);
  } catch {
    throw new RequestAuthError('invalid_authorization', 'the signature is not valid base64');
  }
  if (bytes.length !== 64) throw new RequestAuthError('invalid_authorization', 'an Ed25519 signature is 64 bytes');
  return bytes;
}

/** Parses `Ed25519-Timestamp <did> <timestamp> <signature>`; throws `RequestAuthError`. */
export function parseAuthorization(header: string | null | undefined): ParsedAuthorization {
  if (!header) throw new RequestAuthError('unauthenticated', `this request needs an "Authorization: ${AUTH_SCHEME} …" header`);
  if (header.length > MAX_HEADER_CHARS) throw new RequestAuthError('invalid_authorization', 'the Authorization header is too long');
  const parts = header.trim().split(/ +/);
  if (parts.length !== 4 || parts[0] !== AUTH_SCHEME) {
    throw new RequestAuthError('invalid_authorization', `expected "${AUTH_SCHEME} <did> <timestamp> <signature>"`);
  }
  const [, did, timestamp, signature] = parts as [string, string, string, string];
  if (!isValidDid(did)) throw new RequestAuthError('invalid_authorization', 'the Authorization header names no valid DID');
  return { did, timestamp, timestampMs: parseTimestamp(timestamp), signature: parseSignature(signature) };
}

/** Throws unless the timestamp is within `windowMs` of `nowMs`. */
export function checkFreshness(timestampMs: number, nowMs: number, windowMs = AUTH_WINDOW_MS): void {
  if (Math.abs(nowMs - timestampMs) > windowMs) {
    throw new RequestAuthError('stale_timestamp', `the signed timestamp is more than ${Math.round(windowMs / 1000)} s from the server's clock`);
  }
}

/**
 * Verifies a parsed signature over our canonical request, or (only when `allowTimestampOnly`)
 * over the timestamp alone. A correct timestamp-only signature that is not allowed gets its own
 * error so that old clients learn why they are refused.
 */
export async function verifySignature(params: {
  auth: Pick<ParsedAuthorization, 'timestamp' | 'signature'>;
  publicKey: Uint8Array;
  method: string;
  path: string;
  digestHex: string;
  allowTimestampOnly?: boolean;
  crypto?: CryptoProvider;
}): Promise<SignatureForm> {
  const crypto = params.crypto ?? getDefaultCryptoProvider();
  const message = canonicalRequest(params.auth.timestamp, params.method, params.path, params.digestHex);
  if (await crypto.ed25519Verify(params.publicKey, message, params.auth.signature)) return 'request';
  if (await crypto.ed25519Verify(params.publicKey, utf8(params.auth.timestamp), params.auth.signature)) {
    if (params.allowTimestampOnly) return 'timestamp-only';
    throw new RequestAuthError('timestamp_only_refused', 'timestamp-only signatures are refused here: sign method, path and body digest too');
  }
  throw new RequestAuthError('bad_signature', 'the signature does not verify for this request and key');
}

/**
 * What a replay cache stores for a verified signature: a digest of the signer and the signed
 * message (not of the signature bytes, so a re-encoded signature cannot pass as new).
 */
export function replayKey(did: string, form: SignatureForm, timestamp: string, method: string, path: string, digestHex: string): string {
  const signed = form === 'request' ? `${method}\n${path}\n${digestHex}` : '';
  return toHex(sha256(utf8(`${did}\n${form}\n${timestamp}\n${signed}`)));
}

/** Signs requests for one identity with strictly increasing timestamps (servers accept each signature once). */
export class RequestSigner {
  readonly identity: AgentIdentity;
  readonly #now: () => number;
  #lastMs = 0;

  constructor(identity: AgentIdentity, options: { now?: () => number } = {}) {
    this.identity = identity;
    this.#now = options.now ?? Date.now;
  }

  get did(): string {
    return this.identity.did;
  }

  /** Millisecond ISO timestamps, bumped when two requests fall in the same millisecond. */
  nextTimestamp(): string {
    const ms = Math.max(this.#now(), this.#lastMs + 1);
    this.#lastMs = ms;
    return new Date(ms).toISOString();
  }

  /** The `Authorization` header value for one request. */
  async authorization(method: string, path: string, body?: Uint8Array | string | null): Promise<string> {
    const timestamp = this.nextTimestamp();
    const signature = await this.identity.sign(canonicalRequest(timestamp, method.toUpperCase(), path, bodyDigest(body)));
    return `${AUTH_SCHEME} ${this.did} ${timestamp} ${toBase64Url(signature)}`;
  }

  /** The `auth` object of a relay `connect` frame. */
  async connectAuth(): Promise<{ timestamp: string; signature: string }> {
    const timestamp = this.nextTimestamp();
    const signature = await this.identity.sign(canonicalRequest(timestamp, CONNECT_METHOD, relayPath(this.did), bodyDigest()));
    return { timestamp, signature: toBase64Url(signature) };
  }
}
