import { describe, expect, it } from 'vitest';
import { AgentIdentity } from '../src/identity/agent-identity.js';
import { RegistryError } from '../src/net/errors.js';
import type { FetchLike } from '../src/net/http.js';
import { RegistryClient } from '../src/net/registry-client.js';
import { AUTH_SCHEME, bodyDigest, parseAuthorization, verifySignature } from '../src/net/signing.js';

const identity = await AgentIdentity.generate();

function client(answer: (url: string, init: RequestInit) => Response | Promise<Response>, seen: { url: string; init: RequestInit }[] = []) {
  const fetch: FetchLike = async (url, init = {}) => {
    seen.push({ url, init });
    return answer(url, init);
  };
  return new RegistryClient({ baseUrl: 'https://registry.example/api/', identity, fetch });
}

const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

describe('RegistryClient', () => {
  it('signs the path the server sees (with prefix and query) and the exact body', async () => {
    const seen: { url: string; init: RequestInit }[] = [];
    const c = client(() => json({ did: identity.did, trust_score: 600, reputation: { votes: 1 } }), seen);
    await c.reportReputation(identity.did, { score: 600 });
    const { url, init } = seen[0]!;
    expect(url).toBe(`https://registry.example/api/v1/agents/${identity.did}/reputation`);
    const header = (init.headers as Record<string, string>).authorization!;
    expect(header.startsWith(`${AUTH_SCHEME} ${identity.did} `)).toBe(true);
    const auth = parseAuthorization(header);
    const form = await verifySignature({
      auth,
      publicKey: identity.publicKey,
      method: 'POST',
      path: `/api/v1/agents/${identity.did}/reputation`,
      digestHex: bodyDigest(init.body as string),
    });
    expect(form).toBe('request');
  });

  it('maps error answers to RegistryError with status, code and Retry-After', async () => {
    const c = client(() => json({ error: 'rate_limited', message: 'slow down' }, 429, { 'retry-after': '7' }));
    const err = (await c.discover().catch((e: unknown) => e)) as RegistryError;
    expect(err).toBeInstanceOf(RegistryError);
    expect(err).toMatchObject({ status: 429, code: 'rate_limited', message: 'slow down', retryAfterSeconds: 7 });
    const plain = client(() => new Response('oops', { status: 502 }));
    expect(await plain.discover().catch((e: unknown) => e)).toMatchObject({ status: 502, code: 'http_502' });
  });

  it('reports network failures as status 0', async () => {
    const c = client(() => {
      throw new TypeError('connection refused');
    });
    expect(await c.getAgent(identity.did).catch((e: unknown) => e)).toMatchObject({ status: 0, code: 'network_error' });
  });

  it('refuses oversized and non-JSON answers', async () => {
    const big = client(() => new Response('x'.repeat(2 * 1024 * 1024)));
    expect(await big.discover().catch((e: unknown) => e)).toMatchObject({ code: 'response_too_large' });
    const text = client(() => new Response('<html>'));
    expect(await text.discover().catch((e: unknown) => e)).toMatchObject({ code: 'invalid_response' });
  });

  it('answers null for unknown agents and refuses invalid DIDs before sending', async () => {
    const seen: { url: string; init: RequestInit }[] = [];
    const c = client(() => json({ error: 'not_found', message: 'no' }, 404), seen);
    expect(await c.getAgent(identity.did)).toBeNull();
    expect(await c.fetchBundle(identity.did)).toBeNull();
    await expect(c.getAgent('did:agentmesh:../../admin')).rejects.toThrow(/not a DID/);
    expect(seen).toHaveLength(2);
  });

  it('needs an identity for signed calls', async () => {
    const anonymous = new RegistryClient({ baseUrl: 'http://localhost:1', fetch: async () => json({}) });
    await expect(anonymous.preKeyStatus()).rejects.toMatchObject({ code: 'no_identity' });
    expect(() => new RegistryClient({ baseUrl: 'ftp://x' })).toThrow(TypeError);
  });
});
