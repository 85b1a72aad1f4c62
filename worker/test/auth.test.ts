import { SELF, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { toBase64Url } from '../../src/encoding.js';
import { AgentIdentity } from '../../src/identity/agent-identity.js';
import { AUTH_SCHEME } from '../../src/net/signing.js';
import type { AgentObject } from '../agent-object.js';
import { BASE, agentStub, expectError, registeredAgent, signedRequest, timestampOnly } from './helpers.js';

const countPath = (did: string) => `/v1/agents/${did}/prekeys/count`;

describe('Authorization: Ed25519-Timestamp', () => {
  it('accepts a fresh signature over timestamp, method, path and body digest', async () => {
    const bob = await registeredAgent();
    const res = await SELF.fetch(await signedRequest(bob.identity, 'GET', countPath(bob.did)));
    expect(res.status).toBe(200);
  });

  it('refuses a bad signature', async () => {
    const bob = await registeredAgent();
    const req = await signedRequest(bob.identity, 'GET', countPath(bob.did));
    const header = req.headers.get('authorization')!;
    const parts = header.split(' ');
    parts[3] = toBase64Url(new Uint8Array(64).fill(7));
    await expectError(new Request(req.url, { headers: { authorization: parts.join(' ') } }), 401, 'bad_signature');
  });

  it('refuses a signature over another path, method or body', async () => {
    const bob = await registeredAgent();
    await expectError(signedRequest(bob.identity, 'GET', countPath(bob.did), { signedPath: `/v1/agents/${bob.did}` }), 401, 'bad_signature');
    const body = JSON.stringify({ score: 900 });
    const alice = await registeredAgent();
    await expectError(
      signedRequest(alice.identity, 'POST', `/v1/agents/${bob.did}/reputation`, { body, signedBody: JSON.stringify({ score: 100 }) }),
      401,
      'bad_signature',
    );
  });

  it('refuses stale and future timestamps (±5 minutes)', async () => {
    const bob = await registeredAgent();
    const at = (offsetMs: number) => new Date(Date.now() + offsetMs).toISOString();
    await expectError(signedRequest(bob.identity, 'GET', countPath(bob.did), { timestamp: at(-6 * 60_000) }), 401, 'stale_timestamp');
    await expectError(signedRequest(bob.identity, 'GET', countPath(bob.did), { timestamp: at(6 * 60_000) }), 401, 'stale_timestamp');
    const ok = await SELF.fetch(await signedRequest(bob.identity, 'GET', countPath(bob.did), { timestamp: at(-4 * 60_000) }));
    expect(ok.status).toBe(200);
  });

  it('accepts each signature once', async () => {
    const bob = await registeredAgent();
    const req = await signedRequest(bob.identity, 'GET', countPath(bob.did));
    expect((await SELF.fetch(req.clone() as unknown as Request)).status).toBe(200);
    await expectError(req.clone(), 401, 'replayed_signature');
    // Concurrent replays: exactly one gets through.
    const again = await signedRequest(bob.identity, 'GET', countPath(bob.did));
    const statuses = await Promise.all(Array.from({ length: 5 }, () => SELF.fetch(again.clone() as Request).then((r) => r.status)));
    expect(statuses.sort()).toEqual([200, 401, 401, 401, 401]);
  });

  it("refuses a header naming someone else's DID", async () => {
    const bob = await registeredAgent();
    const mallory = await registeredAgent();
    // Mallory signs, but claims to be Bob.
    await expectError(signedRequest(mallory.identity, 'GET', countPath(bob.did), { did: bob.did }), 401, 'bad_signature');
    // Mallory signs as herself for Bob's owner-only endpoint.
    await expectError(signedRequest(mallory.identity, 'GET', countPath(bob.did)), 403, 'forbidden');
  });

  it('refuses signers that are not registered', async () => {
    const bob = await registeredAgent();
    const stranger = await AgentIdentity.generate();
    await expectError(signedRequest(stranger, 'GET', countPath(bob.did)), 401, 'unknown_signer');
  });

  it("refuses the draft's timestamp-only signature unless the deployment allows it", async () => {
    const bob = await registeredAgent();
    await expectError(signedRequest(bob.identity, 'GET', countPath(bob.did), { signedBytes: timestampOnly }), 401, 'timestamp_only_refused');
    await runInDurableObject(agentStub(bob.did), (instance: AgentObject) => {
      instance.config = { ...instance.config, allowTimestampOnlyAuth: true };
    });
    const req = await signedRequest(bob.identity, 'GET', countPath(bob.did), { signedBytes: timestampOnly });
    expect((await SELF.fetch(req.clone() as unknown as Request)).status).toBe(200);
    // Even then, once only.
    await expectError(req, 401, 'replayed_signature');
  });

  it('refuses missing and malformed headers', async () => {
    const bob = await registeredAgent();
    const url = `${BASE}${countPath(bob.did)}`;
    await expectError(new Request(url), 401, 'unauthenticated');
    const ts = new Date().toISOString();
    const sig = toBase64Url(new Uint8Array(64));
    for (const header of [
      'Bearer abc',
      `${AUTH_SCHEME} ${bob.did} ${ts}`,
      `${AUTH_SCHEME} not-a-did ${ts} ${sig}`,
      `${AUTH_SCHEME} ${bob.did} yesterday ${sig}`,
      `${AUTH_SCHEME} ${bob.did} 2026-13-45T99:99:99Z ${sig}`,
      `${AUTH_SCHEME} ${bob.did} ${ts} ${toBase64Url(new Uint8Array(10))}`,
      `${AUTH_SCHEME} ${bob.did} ${ts} !!!`,
      `${AUTH_SCHEME} ${bob.did} ${ts} ${sig} extra`,
      `${AUTH_SCHEME} ${'x'.repeat(600)}`,
    ]) {
      await expectError(new Request(url, { headers: { authorization: header } }), 401);
    }
  });
});
