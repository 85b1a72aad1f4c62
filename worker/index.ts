import { isValidDid } from '../src/identity/did.js';
import { loadConfig } from './config.js';
import type { Env } from './env.js';
import { HttpError, badRequest, json, methodNotAllowed, notFound, parseJsonObject, readBody, toErrorResponse } from './http.js';

export { AgentObject } from './agent-object.js';
export { DirectoryObject } from './directory-object.js';
export type { Env } from './env.js';

/**
 * The AgentMesh edge service: routes each request to the Durable Object of the agent it is about
 * (or to the directory). The objects authenticate, store and relay; this stateless front only
 * finds them.
 */

// Auth is a signature header, never a cookie, so any origin may call (the SDK runs in pages).
const CORS: Record<string, string> = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, POST, PUT, DELETE, OPTIONS',
  'access-control-allow-headers': 'authorization, content-type',
  'access-control-expose-headers': 'retry-after',
  'access-control-max-age': '86400',
};

const MAX_URL_PART = 1024;

export default {
  async fetch(request, env): Promise<Response> {
    let response: Response;
    try {
      response = await route(request, env);
    } catch (error) {
      response = toErrorResponse(error);
    }
    if (response.webSocket) return response;
    const out = new Response(response.body, response);
    for (const [k, v] of Object.entries(CORS)) out.headers.set(k, v);
    return out;
  },
} satisfies ExportedHandler<Env>;

async function route(request: Request, env: Env): Promise<Response> {
  const url = new URL(request.url);
  if (url.pathname.length > MAX_URL_PART || url.search.length > MAX_URL_PART) {
    throw new HttpError(414, 'uri_too_long', 'the URL is too long');
  }
  if (request.method === 'OPTIONS') return new Response(null, { status: 204 });
  const parts = url.pathname.split('/');
  if (parts[1] !== 'v1') throw notFound();
  switch (parts[2]) {
    case 'health':
      if (parts.length !== 3) throw notFound();
      return json({ ok: true, service: 'agentmesh-relay', version: 1 });
    case 'discover':
      if (parts.length !== 3) throw notFound();
      return env.DIRECTORY.get(env.DIRECTORY.idFromName('directory')).fetch(request);
    case 'agents':
      break;
    default:
      throw notFound();
  }
  if (parts.length === 3) {
    if (request.method !== 'POST') throw methodNotAllowed('POST');
    // The new agent's object is named by the DID in the body.
    const body = await readBody(request, loadConfig(env).maxRegistrationBytes);
    const did = parseJsonObject(body).did;
    if (typeof did !== 'string' || !isValidDid(did)) throw badRequest('invalid_did', '"did" must be a DID');
    const forwarded = new Request(request.url, { method: 'POST', headers: request.headers, body });
    return agent(env, did).fetch(forwarded);
  }
  let did: string;
  try {
    did = decodeURIComponent(parts[3] ?? '');
  } catch {
    throw badRequest('invalid_did', 'the path holds malformed percent-encoding');
  }
  if (!isValidDid(did)) throw badRequest('invalid_did', 'the path names no valid DID');
  if (request.body === null) return agent(env, did).fetch(request);
  // Bodies are read here, within the largest limit any route has (the object applies its own), so
  // an oversized one is refused before anything is forwarded.
  const config = loadConfig(env);
  const body = await readBody(request, Math.max(config.maxFrameBytes, config.maxPreKeyUploadBytes, config.maxSmallBodyBytes));
  return agent(env, did).fetch(new Request(request.url, { method: request.method, headers: request.headers, body }));
}

function agent(env: Env, did: string) {
  return env.AGENTS.get(env.AGENTS.idFromName(did));
}
