// Abuse of request authentication: captured headers replayed (at once, after a restart of the
// object, after the replay cache forgot them, at another endpoint, after deregistration), stale and
// future timestamps at the edges of the window, and relay `connect` frames replayed.
import { SELF, abortAllDurableObjects, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { encodePreKeyUpload, uploadFromKeyManager } from '../../src/net/prekey-upload.js';
import { RequestSigner } from '../../src/net/signing.js';
import type { AgentObject } from '../agent-object.js';
import { BASE, TestSocket, agentStub, expectError, newAgent, publishedAgent, registeredAgent, shiftClock, signedRequest } from './helpers.js';

const countPath = (did: string) => `/v1/agents/${did}/prekeys/count`;
const again = (r: Request) => r.clone() as unknown as Request;

async function oneTimeLeft(did: string): Promise<number> {
  return runInDurableObject(agentStub(did), (o: AgentObject) => o.store.oneTimePreKeyCount());
}

async function seenSignatures(did: string): Promise<number> {
  return runInDurableObject(agentStub(did), (o: AgentObject) => o.state.storage.sql.exec('SELECT COUNT(*) AS n FROM seen_auth').one().n as number);
}

describe('replayed Authorization headers', () => {
  it('a captured request is refused at once, and still after the object restarts', async () => {
    const bob = await registeredAgent();
    const captured = await signedRequest(bob.identity, 'GET', countPath(bob.did));
    expect((await SELF.fetch(again(captured))).status).toBe(200);
    await expectError(again(captured), 401, 'replayed_signature');
    // The replay cache lives in the object's SQLite storage, not in its memory.
    await abortAllDurableObjects();
    await expectError(again(captured), 401, 'replayed_signature');
  });

  it('a signature is refused once its cache entry is purged: by then its timestamp is stale', async () => {
    const bob = await registeredAgent();
    const captured = await signedRequest(bob.identity, 'GET', countPath(bob.did));
    expect((await SELF.fetch(again(captured))).status).toBe(200);
    expect(await seenSignatures(bob.did)).toBeGreaterThan(0);
    // Past the window (+ the 1 s margin the cache keeps), a request makes the object purge the cache.
    await shiftClock(bob.did, 5 * 60_000 + 15_000);
    await runInDurableObject(agentStub(bob.did), (o: AgentObject) => o.store.purge(o.now(), o.config.signedPreKeyRetentionMs));
    expect(await seenSignatures(bob.did)).toBe(0);
    await expectError(again(captured), 401, 'stale_timestamp');
  });

  it('the edges of the ±5 minute window: inside is accepted once, outside never', async () => {
    const bob = await registeredAgent();
    const at = (offsetMs: number) => new Date(Date.now() + offsetMs).toISOString();
    for (const offset of [-5 * 60_000 - 2_000, 5 * 60_000 + 2_000, -3_600_000, 86_400_000 * 365]) {
      await expectError(signedRequest(bob.identity, 'GET', countPath(bob.did), { timestamp: at(offset) }), 401, 'stale_timestamp');
    }
    for (const offset of [-5 * 60_000 + 5_000, 5 * 60_000 - 5_000]) {
      const req = await signedRequest(bob.identity, 'GET', countPath(bob.did), { timestamp: at(offset) });
      expect((await SELF.fetch(again(req))).status).toBe(200);
      await expectError(again(req), 401, 'replayed_signature');
    }
    // A timestamp from the future stays replay-proof until it has left the window.
    const future = await signedRequest(bob.identity, 'GET', countPath(bob.did), { timestamp: at(4 * 60_000) });
    expect((await SELF.fetch(again(future))).status).toBe(200);
    await shiftClock(bob.did, 8 * 60_000);
    await expectError(again(future), 401, 'replayed_signature');
  });

  it('a replayed bundle fetch claims no one-time pre-key', async () => {
    const bob = await publishedAgent(5);
    const alice = await registeredAgent();
    const captured = await signedRequest(alice.identity, 'GET', `/v1/agents/${bob.did}/prekeys`);
    expect((await SELF.fetch(again(captured))).status).toBe(200);
    expect(await oneTimeLeft(bob.did)).toBe(4);
    for (let i = 0; i < 5; i++) await expectError(again(captured), 401, 'replayed_signature');
    expect(await oneTimeLeft(bob.did)).toBe(4);
  });

  it('a signature for one endpoint is refused at every other (path, method and body are signed)', async () => {
    const bob = await publishedAgent(2);
    const carol = await registeredAgent();
    const req = await signedRequest(bob.identity, 'GET', countPath(bob.did));
    const header = req.headers.get('authorization')!;
    const targets: [string, string, string | undefined][] = [
      ['DELETE', `/v1/agents/${bob.did}`, undefined],
      ['GET', `/v1/agents/${bob.did}/inbox`, undefined],
      ['GET', `/v1/agents/${carol.did}/prekeys`, undefined],
      ['POST', `/v1/agents/${carol.did}/reputation`, JSON.stringify({ score: 0 })],
      ['PUT', `/v1/agents/${bob.did}/prekeys`, JSON.stringify(encodePreKeyUpload(uploadFromKeyManager(bob.keys)))],
      ['GET', `${countPath(bob.did)}?x=1`, undefined],
    ];
    for (const [method, path, body] of targets) {
      await expectError(new Request(BASE + path, { method, body, headers: { authorization: header, 'content-type': 'application/json' } }), 401, 'bad_signature');
    }
    // Bob is still registered, and the original request is still good once.
    expect((await SELF.fetch(req)).status).toBe(200);
  });

  it('a registration captured before deregistration cannot bring the agent back', async () => {
    const bob = await newAgent();
    const body = JSON.stringify({ did: bob.did, public_key: (await import('../../src/encoding.js')).toBase64Url(bob.identity.publicKey), capabilities: [], metadata: {} });
    const captured = await signedRequest(bob.identity, 'POST', '/v1/agents', { body });
    expect((await SELF.fetch(again(captured))).status).toBe(201);
    await bob.client.deregister();
    await expectError(again(captured), 401, 'replayed_signature');
    await expectError(new Request(`${BASE}/v1/agents/${bob.did}`), 404, 'not_found');
  });

  it('concurrent copies of one signed request: exactly one is served', async () => {
    const bob = await publishedAgent(10);
    const alice = await registeredAgent();
    const captured = await signedRequest(alice.identity, 'GET', `/v1/agents/${bob.did}/prekeys`);
    const statuses = await Promise.all(Array.from({ length: 12 }, () => SELF.fetch(again(captured)).then((r) => r.status)));
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 401)).toHaveLength(11);
    expect(await oneTimeLeft(bob.did)).toBe(9);
  });
});

describe('replayed relay connect frames', () => {
  async function connectFrame(bob: Awaited<ReturnType<typeof registeredAgent>>) {
    const auth = await new RequestSigner(bob.identity).connectAuth();
    return { v: 1, type: 'connect', from: bob.did, to: 'relay', id: crypto.randomUUID(), ts: new Date().toISOString(), auth, supported_versions: [1] };
  }

  it('a connect frame authenticates one socket; a copy on another socket is closed 4401, also after a restart', async () => {
    const bob = await registeredAgent();
    const frame = await connectFrame(bob);
    const first = await TestSocket.open(bob.did);
    first.send(frame);
    await first.next((f) => f.type === 'connected');
    const copy = await TestSocket.open(bob.did);
    copy.send({ ...frame, id: crypto.randomUUID() });
    expect(await copy.closed()).toBe(4401);
    first.close();
    await abortAllDurableObjects();
    const afterRestart = await TestSocket.open(bob.did);
    afterRestart.send(frame);
    expect(await afterRestart.closed()).toBe(4401);
  });

  it('a connect frame signed by another agent, or for another endpoint, is refused', async () => {
    const bob = await registeredAgent();
    const mallory = await registeredAgent();
    // Mallory's own valid connect, sent on Bob's endpoint.
    const onBobs = await TestSocket.open(bob.did);
    onBobs.send(await connectFrame(mallory));
    expect(await onBobs.closed()).toBe(4403);
    // Mallory's signature under Bob's name.
    const forged = { ...(await connectFrame(mallory)), from: bob.did };
    const socket = await TestSocket.open(bob.did);
    socket.send(forged);
    expect(await socket.closed()).toBe(4401);
  });
});

describe('the replay cache cannot be used to lock an agent out', () => {
  it('a flood of junk signatures stores nothing: only verified signatures are remembered', async () => {
    const bob = await registeredAgent();
    const before = await seenSignatures(bob.did);
    const mallory = await registeredAgent();
    for (let i = 0; i < 20; i++) {
      await expectError(signedRequest(mallory.identity, 'GET', countPath(bob.did), { did: bob.did }), 401, 'bad_signature');
    }
    expect(await seenSignatures(bob.did)).toBe(before);
    expect((await SELF.fetch(await signedRequest(bob.identity, 'GET', countPath(bob.did)))).status).toBe(200);
  });
});
