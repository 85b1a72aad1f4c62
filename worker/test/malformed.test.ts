import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { toBase64Url } from '../../src/encoding.js';
import { BASE, expectError, publishedAgent, registeredAgent, signedRequest } from './helpers.js';

/** Junk bodies: every one must get a 4xx JSON error, never a 500. */
const JUNK = [
  '',
  'null',
  '[]',
  '"text"',
  '42',
  '{',
  '{"a":',
  '\u0000\u0001',
  '{"did": 5}',
  '{"did": "did:agentmesh:0OIl"}',
  JSON.stringify({ signed_pre_key: [] }),
  JSON.stringify({ one_time_pre_keys: {} }),
  JSON.stringify({ one_time_pre_keys: [null] }),
  JSON.stringify({ acks: 'all' }),
  JSON.stringify({ acks: [{ from: 1, id: 2 }] }),
  JSON.stringify({ score: null }),
  JSON.stringify({ v: 1, type: 'message' }),
  '['.repeat(3000) + ']'.repeat(3000),
  '{"a":'.repeat(2000) + '1' + '}'.repeat(2000),
  JSON.stringify({ metadata: { ['__proto__']: { x: 1 } } }),
];

describe('malformed input', () => {
  it('answers every junk body on every endpoint with a 4xx JSON error', async () => {
    const bob = await publishedAgent(1);
    const alice = await registeredAgent();
    const routes: [string, string][] = [
      ['POST', '/v1/agents'],
      ['PUT', `/v1/agents/${bob.did}/prekeys`],
      ['POST', `/v1/agents/${bob.did}/reputation`],
      ['POST', `/v1/agents/${bob.did}/inbox`],
      ['POST', `/v1/agents/${bob.did}/inbox/ack`],
    ];
    for (const [method, path] of routes) {
      for (const body of JUNK) {
        const signer = path.includes('reputation') || path.endsWith('/inbox') ? alice : bob;
        const res = await SELF.fetch(await signedRequest(signer.identity, method, path, { body }));
        const text = await res.text();
        expect(res.status, `${method} ${path} ${body.slice(0, 40)} -> ${text}`).toBeGreaterThanOrEqual(400);
        expect(res.status, `${method} ${path} ${body.slice(0, 40)} -> ${text}`).toBeLessThan(500);
        expect(JSON.parse(text)).toMatchObject({ error: expect.any(String), message: expect.any(String) });
      }
    }
  });

  it('answers bad paths, methods and URLs with 4xx', async () => {
    const bob = await registeredAgent();
    const cases: [string, string, number][] = [
      ['GET', '/', 404],
      ['GET', '/v2/agents', 404],
      ['GET', '/v1/nothing', 404],
      ['GET', '/v1/agents', 405],
      ['GET', '/v1/agents/not-a-did', 400],
      ['GET', '/v1/agents/did:agentmesh:', 400],
      ['GET', '/v1/agents/did:agentmesh:0OIl', 400],
      ['GET', '/v1/agents/did%ZZ', 400],
      ['GET', `/v1/agents/${bob.did}/unknown`, 404],
      ['GET', `/v1/agents/${bob.did}/prekeys/count/more`, 404],
      ['GET', `/v1/agents/${bob.did}/prekeys/other`, 404],
      ['PATCH', `/v1/agents/${bob.did}`, 405],
      ['POST', `/v1/agents/${bob.did}/presence`, 405],
      ['DELETE', `/v1/agents/${bob.did}/prekeys`, 405],
      ['PUT', `/v1/agents/${bob.did}/inbox/ack`, 405],
      ['GET', `/v1/health/x`, 404],
      ['GET', `/v1/agents/${bob.did}?${'x'.repeat(2000)}`, 414],
      ['GET', `/v1/agents/${bob.did}/inbox?limit=-1`, 401],
    ];
    for (const [method, path, status] of cases) {
      const res = await SELF.fetch(new Request(BASE + path, { method }));
      const text = await res.text();
      expect(res.status, `${method} ${path}: ${text}`).toBe(status);
      expect(JSON.parse(text)).toMatchObject({ error: expect.any(String) });
    }
    // Owner-only reads with bad queries.
    for (const q of ['limit=0', 'limit=101', 'limit=x', 'after=-1', `after=${'9'.repeat(12)}`]) {
      await expectError(signedRequest(bob.identity, 'GET', `/v1/agents/${bob.did}/inbox?${q}`), 400, 'invalid_query');
    }
  });

  it('refuses bodies over the limits with 413, whatever Content-Length says', async () => {
    const bob = await registeredAgent();
    const big = JSON.stringify({ did: bob.did, public_key: toBase64Url(bob.identity.publicKey), metadata: { x: 'y'.repeat(300_000) } });
    await expectError(signedRequest(bob.identity, 'POST', '/v1/agents', { body: big }), 413, 'payload_too_large');
    await expectError(signedRequest(bob.identity, 'PUT', `/v1/agents/${bob.did}/prekeys`, { body: big }), 413, 'payload_too_large');
    const chunked = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 40; i++) controller.enqueue(new Uint8Array(10_000).fill(32));
        controller.close();
      },
    });
    const res = await SELF.fetch(`${BASE}/v1/agents/${bob.did}/reputation`, { method: 'POST', body: chunked });
    expect(res.status).toBe(413);
  });

  it('answers non-UTF-8 bodies with 400', async () => {
    const bob = await registeredAgent();
    const res = await SELF.fetch(`${BASE}/v1/agents`, { method: 'POST', body: new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]) });
    expect(res.status).toBe(400);
  });

  it('limits requests per caller (429)', async () => {
    const bob = await registeredAgent();
    let limited: Response | null = null;
    for (let i = 0; i < 130 && !limited; i++) {
      const res = await SELF.fetch(`${BASE}/v1/agents/${bob.did}/presence`, { headers: { 'cf-connecting-ip': '203.0.113.9' } });
      if (res.status === 429) limited = res;
      else expect(res.status).toBe(200);
      if (!limited) await res.body?.cancel();
    }
    expect(limited).not.toBeNull();
    expect(await limited!.json()).toMatchObject({ error: 'rate_limited' });
    // Another caller is not affected.
    expect((await SELF.fetch(`${BASE}/v1/agents/${bob.did}/presence`, { headers: { 'cf-connecting-ip': '203.0.113.10' } })).status).toBe(200);
  });

  it('answers CORS preflights', async () => {
    const res = await SELF.fetch(`${BASE}/v1/agents`, { method: 'OPTIONS' });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-headers')).toContain('authorization');
    const get = await SELF.fetch(`${BASE}/v1/health`);
    expect(get.headers.get('access-control-allow-origin')).toBe('*');
  });
});
