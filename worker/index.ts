import type { Env } from './env.js';
import { toErrorResponse } from './http.js';
import { route } from './router.js';

export { AgentObject } from './agent-object.js';
export { DirectoryObject } from './directory-object.js';
export { EdgeAgentObject } from './edge-agent.js';
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
