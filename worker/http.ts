import { AgentMeshError, RequestAuthError } from '../src/index.js';
import { jsonNestingExceeds, readLimitedBytes } from '../src/protocol.js';

/** An error answer: JSON `{ error, message }` with an HTTP status. */
export class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  readonly headers: Record<string, string>;
  constructor(status: number, code: string, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

const BASE_HEADERS = {
  'content-type': 'application/json; charset=utf-8',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
};

export function json(data: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(data), { status, headers: { ...BASE_HEADERS, ...headers } });
}

/** A JSON body written from pieces of JSON text we already hold (stored frames go out verbatim). */
export function rawJson(text: string, status = 200): Response {
  return new Response(text, { status, headers: BASE_HEADERS });
}

export function errorResponse(status: number, code: string, message: string, headers: Record<string, string> = {}): Response {
  return json({ error: code, message }, status, headers);
}

/**
 * Maps anything thrown while handling a request to its answer. Typed SDK errors are bad input
 * (400) or failed authentication (401); only a bug in this Worker gets a 500.
 */
export function toErrorResponse(error: unknown): Response {
  if (error instanceof HttpError) return errorResponse(error.status, error.code, error.message, error.headers);
  if (error instanceof RequestAuthError) {
    return errorResponse(error.code === 'invalid_request' ? 400 : 401, error.code, error.message);
  }
  if (error instanceof AgentMeshError) return errorResponse(400, error.code, error.message);
  console.error('unexpected error', error);
  return errorResponse(500, 'internal_error', 'the service failed to handle this request');
}

/** How much of an over-long request body is read and dropped before it is cancelled (see readLimitedBytes). */
const MAX_DRAIN_BYTES = 4 * 1024 * 1024;

/** Reads at most `maxBytes` of the body, whatever Content-Length claims. */
export function readBody(request: Request, maxBytes: number): Promise<Uint8Array<ArrayBuffer>> {
  return readLimitedBytes(request.body, request.headers.get('content-length'), maxBytes, () => tooLarge(maxBytes), MAX_DRAIN_BYTES);
}

function tooLarge(maxBytes: number): HttpError {
  return new HttpError(413, 'payload_too_large', `the body is larger than ${maxBytes} bytes`);
}

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

export function bodyText(bytes: Uint8Array): string {
  try {
    return decoder.decode(bytes);
  } catch {
    throw new HttpError(400, 'invalid_json', 'the body is not UTF-8');
  }
}

/** Deepest nesting a request body may have (the registry's bodies need 3; metadata gets room). */
export const MAX_BODY_DEPTH = 32;

/** Parses a JSON object body. */
export function parseJsonObject(bytes: Uint8Array): Record<string, unknown> {
  let value: unknown;
  const text = bodyText(bytes);
  if (jsonNestingExceeds(text, MAX_BODY_DEPTH)) throw new HttpError(400, 'invalid_json', `the body is nested deeper than ${MAX_BODY_DEPTH} levels`);
  try {
    value = JSON.parse(text);
  } catch (e) {
    if (e instanceof HttpError) throw e;
    throw new HttpError(400, 'invalid_json', 'the body is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new HttpError(400, 'invalid_json', 'the body must be a JSON object');
  }
  return value as Record<string, unknown>;
}

export function badRequest(code: string, message: string): HttpError {
  return new HttpError(400, code, message);
}

export function notFound(message = 'no such resource'): HttpError {
  return new HttpError(404, 'not_found', message);
}

export function methodNotAllowed(allowed: string): HttpError {
  return new HttpError(405, 'method_not_allowed', `allowed: ${allowed}`, { allow: allowed });
}

/** The caller's network address, for rate limits before anyone is authenticated. */
export function clientAddress(request: Request): string {
  return request.headers.get('cf-connecting-ip') ?? 'anonymous';
}
