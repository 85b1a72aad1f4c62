import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { toBase64Url } from '../../src/encoding.js';
import { AgentIdentity } from '../../src/identity/agent-identity.js';
import { legacyDidFromPublicKey } from '../../src/identity/did.js';
import { RegistryError } from '../../src/net/errors.js';
import { BASE, expectError, newAgent, publishedAgent, registeredAgent, signedRequest } from './helpers.js';

describe('POST /v1/agents', () => {
  it('registers a DID derived from its key (201), and updates it on a second call (200)', async () => {
    const agent = await newAgent();
    const body = JSON.stringify({ did: agent.did, public_key: toBase64Url(agent.identity.publicKey), capabilities: ['chat', 'chat'], metadata: { name: 'a' } });
    const first = await SELF.fetch(await signedRequest(agent.identity, 'POST', '/v1/agents', { body }));
    expect(first.status).toBe(201);
    const info = (await first.json()) as Record<string, unknown>;
    expect(info).toMatchObject({ did: agent.did, capabilities: ['chat'], metadata: { name: 'a' }, trust_score: 500, online: false });
    const second = await agent.client.register({ capabilities: ['search'], metadata: { name: 'b' } });
    expect(second.capabilities).toEqual(['search']);
    expect(second.metadata).toEqual({ name: 'b' });
    expect(second.registeredAt).toBe(info.registered_at);
  });

  it('refuses a DID that is not the one derived from the key', async () => {
    const agent = await newAgent();
    const other = await AgentIdentity.generate();
    const body = JSON.stringify({ did: other.did, public_key: toBase64Url(agent.identity.publicKey) });
    // Signed by the key in the body, routed by the (wrong) DID.
    await expectError(signedRequest(agent.identity, 'POST', '/v1/agents', { body, did: agent.did }), 400, 'did_mismatch');
  });

  it('refuses legacy did:mesh names, which no key proves', async () => {
    const agent = await newAgent();
    const body = JSON.stringify({ did: legacyDidFromPublicKey(agent.identity.publicKey), public_key: toBase64Url(agent.identity.publicKey) });
    await expectError(signedRequest(agent.identity, 'POST', '/v1/agents', { body }), 400, 'unsupported_did');
  });

  it('refuses a registration signed by someone other than the key holder', async () => {
    const agent = await newAgent();
    const mallory = await registeredAgent();
    const body = JSON.stringify({ did: agent.did, public_key: toBase64Url(agent.identity.publicKey) });
    await expectError(signedRequest(mallory.identity, 'POST', '/v1/agents', { body }), 403, 'forbidden');
  });

  it('refuses an unsigned registration', async () => {
    const agent = await newAgent();
    const body = JSON.stringify({ did: agent.did, public_key: toBase64Url(agent.identity.publicKey) });
    await expectError(new Request(`${BASE}/v1/agents`, { method: 'POST', body }), 401, 'unauthenticated');
  });

  it('refuses bad capabilities and oversized metadata', async () => {
    const agent = await newAgent();
    const key = toBase64Url(agent.identity.publicKey);
    for (const extra of [
      { capabilities: 'chat' },
      { capabilities: [''] },
      { capabilities: ['has space'] },
      { capabilities: Array.from({ length: 33 }, (_, i) => `c${i}`) },
      { metadata: [] },
      { metadata: { blob: 'x'.repeat(5000) } },
    ]) {
      const body = JSON.stringify({ did: agent.did, public_key: key, ...extra });
      await expectError(signedRequest(agent.identity, 'POST', '/v1/agents', { body }), 400);
    }
  });
});

describe('GET /v1/agents/{did}', () => {
  it('returns registration, trust score and presence; 404 for unknown DIDs', async () => {
    const agent = await registeredAgent(['chat']);
    const info = await agent.client.getAgent(agent.did);
    expect(info).toMatchObject({ did: agent.did, capabilities: ['chat'], trustScore: 500, online: false, lastSeen: null });
    expect(info!.publicKey).toEqual(agent.identity.publicKey);
    const stranger = await AgentIdentity.generate();
    expect(await agent.client.getAgent(stranger.did)).toBeNull();
    await expectError(new Request(`${BASE}/v1/agents/${stranger.did}`), 404, 'not_found');
  });
});

describe('DELETE /v1/agents/{did}', () => {
  it('removes everything when the owner asks', async () => {
    const agent = await publishedAgent(3);
    await agent.client.deregister();
    expect(await agent.client.getAgent(agent.did)).toBeNull();
    expect(await agent.client.fetchBundle(agent.did)).toBeNull();
    expect(await agent.client.discover({ capability: 'chat' })).not.toContainEqual(expect.objectContaining({ did: agent.did }));
    // It may register again afterwards.
    await agent.client.register();
    expect(await agent.client.fetchBundle(agent.did)).toBeNull();
  });

  it('is refused for anyone else (403) and for nobody (401)', async () => {
    const agent = await registeredAgent();
    const mallory = await registeredAgent();
    await expectError(signedRequest(mallory.identity, 'DELETE', `/v1/agents/${agent.did}`), 403, 'forbidden');
    await expectError(new Request(`${BASE}/v1/agents/${agent.did}`, { method: 'DELETE' }), 401);
    expect(await agent.client.getAgent(agent.did)).not.toBeNull();
  });

  it('answers 404 for an agent that is not registered', async () => {
    const agent = await newAgent();
    const err = await agent.client.deregister().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).status).toBe(404);
  });
});
