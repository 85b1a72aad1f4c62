import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { BASE, expectError, newAgent, registeredAgent, signedRequest } from './helpers.js';

const vote = (score: unknown, extra: Record<string, unknown> = {}) => JSON.stringify({ score, ...extra });

describe('POST /v1/agents/{did}/reputation', () => {
  it('moves the trust score that GET /v1/agents/{did} reports; one vote per reporter', async () => {
    const bob = await registeredAgent();
    const alice = await registeredAgent();
    const carol = await registeredAgent();
    expect((await bob.client.getAgent(bob.did))!.trustScore).toBe(500);
    expect(await alice.client.reportReputation(bob.did, { score: 1000, comment: 'helpful' })).toEqual({ trustScore: 545, votes: 1 });
    // Voting again replaces the earlier vote rather than adding one.
    expect(await alice.client.reportReputation(bob.did, { score: 1000 })).toEqual({ trustScore: 545, votes: 1 });
    expect(await carol.client.reportReputation(bob.did, { score: 0 })).toEqual({ trustScore: 500, votes: 2 });
    const info = await bob.client.getAgent(bob.did);
    expect(info).toMatchObject({ trustScore: 500, reputation: { votes: 2, average: 500 } });
  });

  it('is bounded: scores 0–1000, a short comment, no self-votes, registered reporters only', async () => {
    const bob = await registeredAgent();
    const alice = await registeredAgent();
    const post = (body: string, signer = alice) => signedRequest(signer.identity, 'POST', `/v1/agents/${bob.did}/reputation`, { body });
    for (const bad of [vote(-1), vote(1001), vote(1.5), vote('900'), vote(900, { comment: 'x'.repeat(281) }), vote(900, { comment: 5 }), '{}']) {
      await expectError(post(bad), 400);
    }
    await expectError(post(vote(900), bob), 403, 'forbidden');
    const stranger = await newAgent();
    await expectError(post(vote(900), stranger), 401, 'unknown_signer');
    await expectError(new Request(`${BASE}/v1/agents/${bob.did}/reputation`, { method: 'POST', body: vote(900) }), 401);
    const nobody = await newAgent();
    await expectError(signedRequest(alice.identity, 'POST', `/v1/agents/${nobody.did}/reputation`, { body: vote(900) }), 404);
  });
});

describe('GET /v1/discover', () => {
  it('finds agents by capability, best trust score first', async () => {
    const tag = `cap-${crypto.randomUUID().slice(0, 8)}`;
    const a = await registeredAgent([tag, `${tag}-x`]);
    const b = await registeredAgent([tag]);
    const c = await registeredAgent([`${tag}-x`]);
    await c.client.reportReputation(b.did, { score: 1000 });
    const found = await a.client.discover({ capability: tag });
    expect(found.map((x) => x.did)).toEqual([b.did, a.did]);
    expect(found[0]).toMatchObject({ capabilities: [tag], trustScore: 545 });
    expect((await a.client.discover({ capability: [tag, `${tag}-x`] })).map((x) => x.did)).toEqual([a.did]);
    expect(await a.client.discover({ capability: `${tag}-none` })).toEqual([]);
    expect(await a.client.discover({ capability: tag, limit: 1 })).toHaveLength(1);
    // Capabilities change with re-registration.
    await a.client.register({ capabilities: [] });
    expect((await a.client.discover({ capability: tag })).map((x) => x.did)).toEqual([b.did]);
  });

  it('refuses bad queries', async () => {
    await expectError(new Request(`${BASE}/v1/discover?capability=has%20space`), 400, 'invalid_query');
    await expectError(new Request(`${BASE}/v1/discover?limit=0`), 400, 'invalid_query');
    await expectError(new Request(`${BASE}/v1/discover?limit=abc`), 400, 'invalid_query');
    await expectError(new Request(`${BASE}/v1/discover?${Array.from({ length: 9 }, (_, i) => `capability=c${i}`).join('&')}`), 400);
    await expectError(new Request(`${BASE}/v1/discover`, { method: 'POST' }), 405, 'method_not_allowed');
    const res = await SELF.fetch(`${BASE}/v1/discover`);
    expect(res.status).toBe(200);
  });
});

describe('GET /v1/agents/{did}/presence', () => {
  it('reports offline with no last-seen time for an agent that never connected', async () => {
    const bob = await registeredAgent();
    expect(await bob.client.presence(bob.did)).toEqual({ did: bob.did, online: false, lastSeen: null });
    const nobody = await newAgent();
    expect(await bob.client.presence(nobody.did)).toBeNull();
  });
});
