import { SELF, runDurableObjectAlarm } from 'cloudflare:test';
import { afterEach, describe, expect, it } from 'vitest';
import { toBase64Url } from '../../src/encoding.js';
import { RelayClient } from '../../src/net/relay-client.js';
import { RequestSigner } from '../../src/net/signing.js';
import { BASE, TestSocket, agentStub, expectError, messageFrame, registeredAgent, shiftClock, signedRequest, type TestAgent, workerWebSocket } from './helpers.js';

const open: TestSocket[] = [];
const clients: RelayClient[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) s.close();
  for (const c of clients.splice(0)) await c.close();
});

async function connect(agent: TestAgent): Promise<TestSocket> {
  const socket = await TestSocket.connect(agent.identity);
  open.push(socket);
  return socket;
}

const isFrame = (type: string) => (f: Record<string, unknown>) => f.type === type;

describe('relay WebSocket', () => {
  it('pushes a frame to an online recipient at once and confirms it to the sender', async () => {
    const [alice, bob] = [await registeredAgent(), await registeredAgent()];
    const a = await connect(alice);
    const b = await connect(bob);
    const frame = messageFrame(alice.did, bob.did);
    a.send(frame);
    expect(await a.next(isFrame('ack'))).toMatchObject({ from: 'relay', ack_id: frame.id, status: 'delivered' });
    expect(await b.next(isFrame('message'))).toEqual(frame);
    expect(await alice.client.presence(bob.did)).toMatchObject({ online: true });
  });

  it('stores frames for an offline recipient and pushes them on reconnect, in order, until acked', async () => {
    const [alice, bob] = [await registeredAgent(), await registeredAgent()];
    const a = await connect(alice);
    const sent = Array.from({ length: 6 }, (_, n) => messageFrame(alice.did, bob.did, n));
    // One at a time, as RelayClient does: the runtime may reorder a socket's messages in flight.
    for (const f of sent) {
      a.send(f);
      expect(await a.next((x) => x.ack_id === f.id)).toMatchObject({ status: 'stored' });
    }
    const b1 = await connect(bob);
    const first = await b1.take(6, isFrame('message'));
    expect(first.map((f) => f.id)).toEqual(sent.map((f) => f.id));
    // Acknowledge the first three only.
    for (const f of sent.slice(0, 3)) b1.send({ v: 1, type: 'ack', from: bob.did, to: alice.did, id: crypto.randomUUID(), ts: new Date().toISOString(), ack_id: f.id });
    await b1.barrier(bob.did);
    b1.close();
    const b2 = await connect(bob);
    expect((await b2.take(3, isFrame('message'))).map((f) => f.id)).toEqual(sent.slice(3).map((f) => f.id));
    expect((await b2.drain()).filter(isFrame('message'))).toEqual([]);
  });

  it('deduplicates by sender and id, also after the frame was acknowledged', async () => {
    const [alice, bob] = [await registeredAgent(), await registeredAgent()];
    const a = await connect(alice);
    const frame = messageFrame(alice.did, bob.did);
    a.send(frame);
    expect(await a.next(isFrame('ack'))).toMatchObject({ status: 'stored' });
    a.send(frame);
    expect(await a.next(isFrame('ack'))).toMatchObject({ status: 'duplicate' });
    const b = await connect(bob);
    expect(await b.next(isFrame('message'))).toMatchObject({ id: frame.id });
    expect((await b.drain()).filter(isFrame('message'))).toEqual([]);
    b.send({ v: 1, type: 'ack', from: bob.did, to: alice.did, id: crypto.randomUUID(), ts: new Date().toISOString(), ack_id: frame.id });
    await b.barrier(bob.did);
    a.send(frame);
    expect(await a.next(isFrame('ack'))).toMatchObject({ status: 'duplicate' });
    expect(await b.drain()).toEqual([]);
  });

  it('refuses a frame that claims another sender, an unknown recipient, and malformed frames', async () => {
    const [alice, bob, carol] = [await registeredAgent(), await registeredAgent(), await registeredAgent()];
    const a = await connect(alice);
    const forged = messageFrame(carol.did, bob.did);
    a.send(forged);
    expect(await a.next(isFrame('error'))).toMatchObject({ code: 'forbidden', status: 403, ref_id: forged.id });
    const stranger = (await import('../../src/identity/agent-identity.js')).AgentIdentity;
    const nobody = await stranger.generate();
    const lost = messageFrame(alice.did, nobody.did);
    a.send(lost);
    expect(await a.next(isFrame('error'))).toMatchObject({ code: 'unknown_recipient', status: 404, ref_id: lost.id });
    for (const bad of [
      'not json',
      '[]',
      JSON.stringify({ ...messageFrame(alice.did, bob.did), v: 2 }),
      JSON.stringify({ ...messageFrame(alice.did, bob.did), id: 'nope' }),
      JSON.stringify({ ...messageFrame(alice.did, bob.did), ts: 'yesterday' }),
      JSON.stringify({ ...messageFrame(alice.did, bob.did), ciphertext: 'AAAA' }),
      JSON.stringify({ ...messageFrame(alice.did, bob.did), header: { dh: 'x', pn: 0, n: 0 } }),
      JSON.stringify({ ...messageFrame(alice.did, bob.did), x3dh: { identity_key: 'AA' } }),
      JSON.stringify({ ...messageFrame(alice.did, bob.did), type: 'knock' }),
      JSON.stringify({ ...messageFrame(alice.did, bob.did), type: 'BAD TYPE' }),
    ]) {
      a.send(bad);
      expect(await a.next(isFrame('error'))).toMatchObject({ code: 'invalid_frame', status: 400 });
    }
    a.send(JSON.stringify({ ...messageFrame(alice.did, bob.did), type: 'connected' }));
    expect(await a.next(isFrame('error'))).toMatchObject({ code: 'unknown_type', status: 400 });
    a.send('x'.repeat(9000));
    expect(await a.next(isFrame('error'))).toMatchObject({ code: 'frame_too_large', status: 413 });
    const old = messageFrame(alice.did, bob.did, 0, { ts: new Date(Date.now() - 73 * 3600_000).toISOString() });
    a.send(old);
    expect(await a.next(isFrame('error'))).toMatchObject({ code: 'stale_frame', status: 400 });
    // The socket survives all of this.
    const ok = messageFrame(alice.did, bob.did);
    a.send(ok);
    expect(await a.next(isFrame('ack'))).toMatchObject({ ack_id: ok.id });
  });

  it('routes knock frames and opaque frame types (trust handshake, error answers)', async () => {
    const [alice, bob] = [await registeredAgent(), await registeredAgent()];
    const a = await connect(alice);
    const b = await connect(bob);
    const base = () => ({ v: 1, from: alice.did, to: bob.did, id: crypto.randomUUID(), ts: new Date().toISOString() });
    const sig = toBase64Url(new Uint8Array(64).fill(1));
    const frames = [
      { ...base(), type: 'knock', intent: { action: 'chat', description: 'hi', capabilities_required: [], trust_minimum: 0 }, signature: sig },
      { ...base(), type: 'knock_accept', knock_id: crypto.randomUUID(), conditions: {}, signature: sig },
      { ...base(), type: 'knock_reject', knock_id: crypto.randomUUID(), reason: 'insufficient_trust', signature: sig },
      { ...base(), type: 'trust_challenge', challenge: { nonce: 'abc' } },
      { ...base(), type: 'error', code: 'wrong_peer', message: 'no' },
    ];
    for (const f of frames) a.send(f);
    for (const f of frames) expect(await b.next((x) => x.id === f.id)).toEqual(f);
  });

  it('limits the inbox per sender and per recipient (429)', async () => {
    const [alice, bob, carol] = [await registeredAgent(), await registeredAgent(), await registeredAgent()];
    const a = await connect(alice);
    const c = await connect(carol);
    for (let n = 0; n < 8; n++) a.send(messageFrame(alice.did, bob.did, n));
    for (let n = 0; n < 8; n++) await a.next(isFrame('ack'));
    a.send(messageFrame(alice.did, bob.did, 8));
    expect(await a.next(isFrame('error'))).toMatchObject({ code: 'inbox_full', status: 429 });
    for (let n = 0; n < 4; n++) c.send(messageFrame(carol.did, bob.did, n));
    for (let n = 0; n < 4; n++) await c.next(isFrame('ack'));
    c.send(messageFrame(carol.did, bob.did, 4));
    expect(await c.next(isFrame('error'))).toMatchObject({ code: 'inbox_full', status: 429 });
  });

  it('answers heartbeats; an agent silent for 90 s is offline and its socket closed', async () => {
    const bob = await registeredAgent();
    const b = await connect(bob);
    b.send({ v: 1, type: 'heartbeat', from: bob.did, to: 'relay', id: crypto.randomUUID(), ts: new Date().toISOString() });
    expect(await b.next(isFrame('heartbeat'))).toMatchObject({ from: 'relay', to: bob.did });
    expect(await bob.client.presence(bob.did)).toMatchObject({ online: true });
    await shiftClock(bob.did, 91_000);
    expect(await bob.client.presence(bob.did)).toMatchObject({ online: false });
    expect(await runDurableObjectAlarm(agentStub(bob.did))).toBe(true);
    expect(await b.closed()).toBe(4408);
    const presence = await bob.client.presence(bob.did);
    expect(presence?.online).toBe(false);
    expect(presence?.lastSeen).not.toBeNull();
  });

  it('expires stored frames after the TTL (72 h)', async () => {
    const [alice, bob] = [await registeredAgent(), await registeredAgent()];
    const a = await connect(alice);
    a.send(messageFrame(alice.did, bob.did));
    await a.next(isFrame('ack'));
    await shiftClock(bob.did, 72 * 3600_000 + 1000);
    await runDurableObjectAlarm(agentStub(bob.did));
    await shiftClock(bob.did, 0);
    const b = await connect(bob);
    expect((await b.drain()).filter(isFrame('message'))).toEqual([]);
  });
});

describe('relay connect', () => {
  async function opened(agent: TestAgent) {
    const socket = await TestSocket.open(agent.did);
    open.push(socket);
    return socket;
  }
  const connectFrame = (did: string, auth: unknown) => ({ v: 1, type: 'connect', from: did, to: 'relay', id: crypto.randomUUID(), ts: new Date().toISOString(), auth, supported_versions: [1] });

  it('closes a socket whose first frame is not connect (4400)', async () => {
    const bob = await registeredAgent();
    const s = await opened(bob);
    s.send({ v: 1, type: 'heartbeat', from: bob.did, to: 'relay', id: crypto.randomUUID(), ts: new Date().toISOString() });
    expect(await s.next(isFrame('error'))).toMatchObject({ code: 'unauthenticated' });
    expect(await s.closed()).toBe(4400);
  });

  it('closes on a bad signature, a replayed connect, or the draft form (4401)', async () => {
    const bob = await registeredAgent();
    const auth = await new RequestSigner(bob.identity).connectAuth();
    const bad = await opened(bob);
    bad.send(connectFrame(bob.did, { ...auth, signature: toBase64Url(new Uint8Array(64).fill(3)) }));
    expect(await bad.next(isFrame('error'))).toMatchObject({ code: 'bad_signature', status: 401 });
    expect(await bad.closed()).toBe(4401);
    const first = await opened(bob);
    first.send(connectFrame(bob.did, auth));
    await first.next(isFrame('connected'));
    const replay = await opened(bob);
    replay.send(connectFrame(bob.did, auth));
    expect(await replay.next(isFrame('error'))).toMatchObject({ code: 'replayed_signature' });
    expect(await replay.closed()).toBe(4401);
    const ts = new Date().toISOString();
    const draft = await opened(bob);
    draft.send(connectFrame(bob.did, { timestamp: ts, signature: toBase64Url(await bob.identity.sign(new TextEncoder().encode(ts))) }));
    expect(await draft.next(isFrame('error'))).toMatchObject({ code: 'timestamp_only_refused' });
    expect(await draft.closed()).toBe(4401);
  });

  it("refuses connecting as someone else (4403) and to an unknown agent's endpoint (404)", async () => {
    const [alice, bob] = [await registeredAgent(), await registeredAgent()];
    const s = await opened(bob);
    s.send(connectFrame(alice.did, await new RequestSigner(alice.identity).connectAuth()));
    expect(await s.closed()).toBe(4403);
    const res = await SELF.fetch(`${BASE}/v1/agents/did:agentmesh:0OIl/relay`, { headers: { upgrade: 'websocket' } });
    expect(res.status).toBe(400);
    const ghost = (await import('../../src/identity/agent-identity.js')).AgentIdentity;
    const g = await ghost.generate();
    await expectError(new Request(`${BASE}/v1/agents/${g.did}/relay`, { headers: { upgrade: 'websocket' } }), 404);
    await expectError(new Request(`${BASE}/v1/agents/${bob.did}/relay`), 426, 'upgrade_required');
  });

  it('closes a socket that never sends connect (alarm)', async () => {
    const bob = await registeredAgent();
    const s = await opened(bob);
    await shiftClock(bob.did, 11_000);
    await runDurableObjectAlarm(agentStub(bob.did));
    expect(await s.closed()).toBe(4408);
  });
});

describe('relay HTTP fallback', () => {
  it('posts to an inbox, fetches and acks one\'s own inbox', async () => {
    const [alice, bob] = [await registeredAgent(), await registeredAgent()];
    const frames = [messageFrame(alice.did, bob.did, 0), messageFrame(alice.did, bob.did, 1), messageFrame(alice.did, bob.did, 2)];
    for (const f of frames) expect(await alice.client.postFrame(f as never)).toEqual({ id: f.id, status: 'stored' });
    expect(await alice.client.postFrame(frames[0] as never)).toEqual({ id: frames[0]!.id, status: 'duplicate' });
    const page1 = await bob.client.fetchInbox({ limit: 2 });
    expect(page1.frames).toEqual(frames.slice(0, 2));
    expect(page1.next).not.toBeNull();
    const page2 = await bob.client.fetchInbox({ after: page1.next! });
    expect(page2.frames).toEqual(frames.slice(2));
    expect(page2.next).toBeNull();
    expect(await bob.client.ackInbox(frames.slice(0, 2).map((f) => ({ from: alice.did, id: f.id as string })))).toBe(2);
    expect((await bob.client.fetchInbox()).frames).toEqual(frames.slice(2));
    // Only Bob reads Bob's inbox.
    await expectError(signedRequest(alice.identity, 'GET', `/v1/agents/${bob.did}/inbox`), 403, 'forbidden');
    await expectError(
      signedRequest(alice.identity, 'POST', `/v1/agents/${bob.did}/inbox/ack`, { body: JSON.stringify({ acks: [] }) }),
      403,
      'forbidden',
    );
  });

  it('refuses frames from someone other than the signer, and to another inbox', async () => {
    const [alice, bob, carol] = [await registeredAgent(), await registeredAgent(), await registeredAgent()];
    const post = (signer: TestAgent, inbox: string, frame: unknown) =>
      signedRequest(signer.identity, 'POST', `/v1/agents/${inbox}/inbox`, { body: JSON.stringify(frame) });
    await expectError(post(alice, bob.did, messageFrame(carol.did, bob.did)), 403, 'forbidden');
    await expectError(post(alice, bob.did, messageFrame(alice.did, carol.did)), 400, 'wrong_recipient');
    await expectError(post(alice, bob.did, { hello: 'world' }), 400, 'invalid_frame');
    await expectError(post(alice, bob.did, { ...messageFrame(alice.did, bob.did), pad: 'x'.repeat(9000) }), 413, 'payload_too_large');
  });

  it('pushes a posted frame to an online recipient', async () => {
    const [alice, bob] = [await registeredAgent(), await registeredAgent()];
    const b = await connect(bob);
    const frame = messageFrame(alice.did, bob.did);
    expect(await alice.client.postFrame(frame as never)).toEqual({ id: frame.id, status: 'delivered' });
    expect(await b.next(isFrame('message'))).toEqual(frame);
  });
});

describe('RelayClient in workerd', () => {
  it('connects, sends both ways and acks after the handler resolves', async () => {
    const [alice, bob] = [await registeredAgent(), await registeredAgent()];
    const a = new RelayClient({ url: BASE, identity: alice.identity, webSocket: workerWebSocket });
    const b = new RelayClient({ url: BASE, identity: bob.identity, webSocket: workerWebSocket });
    clients.push(a, b);
    const gotByBob: string[] = [];
    const gotByAlice: string[] = [];
    b.onFrame(async (f) => {
      gotByBob.push(f.id);
    });
    a.onFrame((f) => {
      gotByAlice.push(f.id);
    });
    await Promise.all([a.connect(), b.connect()]);
    const m1 = messageFrame(alice.did, bob.did, 0);
    const m2 = messageFrame(bob.did, alice.did, 0);
    const { v: _v1, from: _f1, ...out1 } = m1;
    const { v: _v2, from: _f2, ...out2 } = m2;
    expect(await a.send(out1 as never)).toMatchObject({ id: m1.id });
    expect(await b.send(out2 as never)).toMatchObject({ id: m2.id });
    await expect.poll(() => gotByBob).toEqual([m1.id]);
    await expect.poll(() => gotByAlice).toEqual([m2.id]);
    // Both acked: nothing waits in either inbox.
    await expect.poll(async () => (await bob.client.fetchInbox()).frames.length).toBe(0);
    await expect.poll(async () => (await alice.client.fetchInbox()).frames.length).toBe(0);
  });

  it('keeps send order for frames sent without waiting, through an offline period', async () => {
    const [alice, bob] = [await registeredAgent(), await registeredAgent()];
    const a = new RelayClient({ url: BASE, identity: alice.identity, webSocket: workerWebSocket });
    clients.push(a);
    await a.connect();
    const frames = Array.from({ length: 8 }, (_, n) => messageFrame(alice.did, bob.did, n));
    const receipts = await Promise.all(frames.map(({ v: _v, from: _f, ...f }) => a.send(f as never)));
    expect(receipts.map((r) => r.status)).toEqual(frames.map(() => 'stored'));
    const b = new RelayClient({ url: BASE, identity: bob.identity, webSocket: workerWebSocket });
    clients.push(b);
    const got: number[] = [];
    b.onFrame(async (f) => {
      got.push((f.header as { n: number }).n);
    });
    await b.connect();
    await expect.poll(() => got).toEqual(frames.map((_, n) => n));
    await expect.poll(async () => (await bob.client.fetchInbox()).frames.length).toBe(0);
  });

  it('leaves a frame on the relay when the handler fails', async () => {
    const [alice, bob] = [await registeredAgent(), await registeredAgent()];
    const b = new RelayClient({ url: BASE, identity: bob.identity, webSocket: workerWebSocket });
    clients.push(b);
    const errors: unknown[] = [];
    b.onEvent((e) => e.type === 'error' && errors.push(e.error));
    b.onFrame(() => {
      throw new Error('disk full');
    });
    await b.connect();
    const frame = messageFrame(alice.did, bob.did);
    await alice.client.postFrame(frame as never);
    await expect.poll(() => errors.length).toBe(1);
    expect((await bob.client.fetchInbox()).frames.map((f) => f.id)).toEqual([frame.id]);
  });

  it('fails connect() for good when the relay refuses authentication', async () => {
    const bob = await registeredAgent();
    const stranger = (await registeredAgent()).identity;
    // The stranger's socket is opened on Bob's endpoint (a misrouted client).
    const c = new RelayClient({ url: BASE, identity: stranger, webSocket: (url) => workerWebSocket(url.replace(stranger.did, bob.did)) });
    clients.push(c);
    // Its signed upgrade covers its own endpoint, not Bob's: refused before the socket is kept, told over it (4401).
    await expect(c.connect()).rejects.toMatchObject({ code: 'bad_signature' });
    expect(c.state).toBe('closed');
  });
});
