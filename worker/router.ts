import { isValidDid } from '../src/index.js';
import { loadConfig } from './config.js';
import type { Env } from './env.js';
import { HttpError, badRequest, json, methodNotAllowed, notFound, parseJsonObject, readBody } from './http.js';

const MAX_URL_PART = 1024;

/**
 * Finds the object a request is about (an agent, the directory, the edge agent) and hands the
 * request to it. Exported so that code inside the Worker (the edge agent) can call the service
 * in-process, without a network round trip to its own URL.
 */
export async function route(request: Request, env: Env): Promise<Response> {
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
      // Refused here, body unread: handing an object a request whose body it never reads wedged
      // the next request to a new object under wrangler dev (30 s, found by fuzz/worker.ts).
      if (request.method !== 'GET') throw methodNotAllowed('GET');
      return env.DIRECTORY.get(env.DIRECTORY.idFromName('directory')).fetch(request);
    case 'edge-agent':
      // The demo's edge agent (worker/edge-agent.ts): GET wakes it and describes it; POST …/restart resets its object.
      if (parts.length > 4 || (parts.length === 4 && parts[3] !== 'restart')) throw notFound();
      if (!env.EDGE_AGENT) throw notFound();
      return edgeAgent(request, env.EDGE_AGENT, parts[3] === 'restart', loadConfig(env).maxSmallBodyBytes);
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

async function edgeAgent(request: Request, ns: NonNullable<Env['EDGE_AGENT']>, restart: boolean, maxBodyBytes: number): Promise<Response> {
  const method = restart ? 'POST' : 'GET';
  if (request.method !== method) throw methodNotAllowed(method);
  // Neither route takes a body: read any to its end here (see 'discover') and forward none.
  if (request.body !== null) await readBody(request, maxBodyBytes);
  const headers = new Headers(request.headers);
  headers.delete('content-length');
  headers.delete('transfer-encoding');
  const stub = ns.get(ns.idFromName('edge-agent'));
  const forwarded = new Request(request.url, { method, headers });
  if (!restart) return stub.fetch(forwarded);
  try {
    return await stub.fetch(forwarded);
  } catch {
    // The object reset itself while answering (ctx.abort): that is the restart.
    return json({ restarted: true }, 202);
  }
}
