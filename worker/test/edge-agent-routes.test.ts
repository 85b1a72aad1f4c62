// The demo's edge-agent routes take no body: the router refuses other methods itself and reads any
// body to its end before forwarding (an unread body once stalled `wrangler dev`, see fuzz/worker.ts).
import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { BASE } from './helpers.js';

describe('edge-agent routes', () => {
  it('refuse other methods with 405 and name the allowed one', async () => {
    for (const [method, path, allowed] of [
      ['POST', '/v1/edge-agent', 'GET'],
      ['DELETE', '/v1/edge-agent', 'GET'],
      ['GET', '/v1/edge-agent/restart', 'POST'],
      ['PUT', '/v1/edge-agent/restart', 'POST'],
    ] as const) {
      const res = await SELF.fetch(`${BASE}${path}`, { method, body: method === 'GET' ? undefined : 'x'.repeat(5000) });
      expect(res.status, `${method} ${path}`).toBe(405);
      expect(await res.json()).toMatchObject({ error: 'method_not_allowed', message: `allowed: ${allowed}` });
    }
  });

  it('a restart with a body is answered by the object (turned off here), and the next request is served', async () => {
    const res = await SELF.fetch(`${BASE}/v1/edge-agent/restart`, { method: 'POST', body: 'y'.repeat(1000) });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ error: 'forbidden' });
    const big = await SELF.fetch(`${BASE}/v1/edge-agent/restart`, { method: 'POST', body: 'y'.repeat(200_000) });
    expect(big.status).toBe(413);
    await big.body?.cancel();
    const health = await SELF.fetch(`${BASE}/v1/health`);
    expect(health.status).toBe(200);
  });

  it('refuse unknown sub-paths', async () => {
    expect((await SELF.fetch(`${BASE}/v1/edge-agent/other`)).status).toBe(404);
    expect((await SELF.fetch(`${BASE}/v1/edge-agent/restart/again`, { method: 'POST' })).status).toBe(404);
  });
});
