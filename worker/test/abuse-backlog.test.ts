// Memory on connect and inbox locking (issue 14, class 5): pending frames are capped in bytes as
// well as counts, per sender and per recipient; senders the recipient never wrote to (strangers,
// as many as there are free DIDs) share one pool that leaves the rest to its established peers;
// the owner purges strangers in one request; and a backlog goes out in pages as acks come in.
import { SELF, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { afterEach, describe, expect, it } from 'vitest';
import { toBase64Url } from '../../src/encoding.js';
import type { AgentObject } from '../agent-object.js';
import type { Config } from '../config.js';
import { BASE, TestSocket, agentStub, expectError, messageFrame, registeredAgent, shiftClock, signedRequest, type TestAgent } from './helpers.js';

const open: TestSocket[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});

async function configure(did: string, changes: Partial<Config>): Promise<void> {
  await runInDurableObject(agentStub(did), (o: AgentObject) => void (o.config = { ...o.config, ...changes }));
}

async function post(from: TestAgent, frame: Record<string, unknown>): Promise<{ status: number; code?: string; result?: string }> {
  const res = await SELF.fetch(await signedRequest(from.identity, 'POST', `/v1/agents/${frame.to as string}/inbox`, { body: JSON.stringify(frame) }));
  const body = (await res.json()) as { error?: string; status?: string };
  return { status: res.status, code: body.error, result: body.status };
}

/** A message frame of about `bytes` bytes. */
function bigFrame(from: string, to: string, bytes: number, n = 0): Record<string, unknown> {
  return messageFrame(from, to, n, { ciphertext: toBase64Url(new Uint8Array(Math.floor((bytes - 300) * 0.75)).fill(7)) });
}

/** Bob writes a message to `peer` over his socket: from now on `peer` is an established peer of Bob's. */
async function writeTo(bob: TestAgent, peer: TestAgent): Promise<void> {
  const socket = await TestSocket.connectSigned(bob.identity);
  const frame = messageFrame(bob.did, peer.did);
  socket.send(frame);
  await socket.next((f) => f.type === 'ack' && f.ack_id === frame.id);
  socket.close();
}

const ackFrame = (did: string, f: Record<string, unknown>) => ({ v: 1, type: 'ack', from: did, to: f.from, id: crypto.randomUUID(), ts: new Date().toISOString(), ack_id: f.id });

describe('inbox locking by fresh DIDs', () => {
  it("strangers fill only their pool: the victim's established peer still gets its frames stored", async () => {
    const [bob, alice] = [await registeredAgent(), await registeredAgent()];
    await writeTo(bob, alice);
    await configure(bob.did, { inboxMaxPerStranger: 2, inboxMaxFromStrangers: 4 });
    // Six fresh DIDs, three frames each, as fast as they can.
    const strangers = await Promise.all(Array.from({ length: 6 }, () => registeredAgent()));
    const results = await Promise.all(strangers.flatMap((s) => [0, 1, 2].map((n) => post(s, messageFrame(s.did, bob.did, n)))));
    expect(results.filter((r) => r.status === 202)).toHaveLength(4);
    expect(results.filter((r) => r.status === 429).every((r) => r.code === 'inbox_full')).toBe(true);
    // Alice, whom Bob wrote to, has the rest of the inbox (12 in all in these tests, 8 per sender).
    for (let n = 0; n < 8; n++) expect((await post(alice, messageFrame(alice.did, bob.did, n))).status).toBe(202);
    expect((await post(alice, messageFrame(alice.did, bob.did, 8))).code).toBe('inbox_full');
  });

  it('the owner purges every stranger, or named senders, in one request; new strangers get through again', async () => {
    const [bob, alice] = [await registeredAgent(), await registeredAgent()];
    await writeTo(bob, alice);
    await configure(bob.did, { inboxMaxPerStranger: 2, inboxMaxFromStrangers: 4 });
    const strangers = await Promise.all(Array.from({ length: 3 }, () => registeredAgent()));
    const sent: Record<string, unknown>[] = [];
    for (const s of strangers) for (const n of [0, 1]) {
      const f = messageFrame(s.did, bob.did, n);
      if ((await post(s, f)).status === 202) sent.push(f);
    }
    expect(sent).toHaveLength(4);
    const aliceFrame = messageFrame(alice.did, bob.did);
    expect((await post(alice, aliceFrame)).status).toBe(202);
    const late = await registeredAgent();
    expect((await post(late, messageFrame(late.did, bob.did))).code).toBe('inbox_full');
    // Only Bob may purge his inbox.
    await expectError(signedRequest(alice.identity, 'POST', `/v1/agents/${bob.did}/inbox/purge`, { body: '{"strangers":true}' }), 403, 'forbidden');
    await expectError(signedRequest(bob.identity, 'POST', `/v1/agents/${bob.did}/inbox/purge`, { body: '{"senders":"all"}' }), 400, 'invalid_field');
    const purge = async (body: unknown) =>
      (await (await SELF.fetch(await signedRequest(bob.identity, 'POST', `/v1/agents/${bob.did}/inbox/purge`, { body: JSON.stringify(body) }))).json()) as { purged: number };
    expect(await purge({ senders: [strangers[0]!.did] })).toEqual({ purged: 2 });
    expect(await purge({ strangers: true })).toEqual({ purged: 2 });
    // Alice's frame stayed; a purged frame sent again is a duplicate, not stored; a new stranger gets in.
    expect((await bob.client.fetchInbox()).frames.map((f) => f.id)).toEqual([aliceFrame.id]);
    expect(await post(strangers[1]!, sent[2]!)).toMatchObject({ status: 202, result: 'duplicate' });
    expect((await post(late, messageFrame(late.did, bob.did))).status).toBe(202);
  });

  it('pending bytes are capped per sender and per recipient, not only counts', async () => {
    const [bob, alice, carol] = [await registeredAgent(), await registeredAgent(), await registeredAgent()];
    await writeTo(bob, alice);
    await writeTo(bob, carol);
    const size = new TextEncoder().encode(JSON.stringify(bigFrame(alice.did, bob.did, 2000))).length;
    // Room for two frames per sender and three in all: counts (8 and 12 here) would allow far more.
    await configure(bob.did, { inboxMaxBytesPerSender: Math.floor(size * 2.5), inboxMaxBytesPerRecipient: Math.floor(size * 3.5) });
    const results = [];
    for (let n = 0; n < 4; n++) results.push(await post(alice, bigFrame(alice.did, bob.did, 2000, n)));
    expect(results.map((r) => r.status)).toEqual([202, 202, 429, 429]);
    expect((await post(carol, bigFrame(carol.did, bob.did, 2000))).status).toBe(202);
    expect((await post(carol, bigFrame(carol.did, bob.did, 2000, 1))).code).toBe('inbox_full');
    const use = await runInDurableObject(agentStub(bob.did), (o: AgentObject) => o.store.inboxUse());
    expect(use.count).toBe(3);
    expect(Math.abs(use.bytes - 3 * size)).toBeLessThan(10);
  });
});

describe('a connect with a full inbox', () => {
  it('receives the backlog in pages: no more than the window waits for acks, and each ack lets one more out', async () => {
    const [bob, alice] = [await registeredAgent(), await registeredAgent()];
    await writeTo(bob, alice);
    await configure(bob.did, { backlogWindowFrames: 3, backlogWindowBytes: 1 << 20 });
    const sent = Array.from({ length: 8 }, (_, n) => messageFrame(alice.did, bob.did, n));
    for (const f of sent) expect((await post(alice, f)).status).toBe(202);
    const socket = await TestSocket.connectSigned(bob.identity);
    open.push(socket);
    const got = (await socket.drain()).filter((f) => f.type === 'message');
    expect(got.map((f) => f.id)).toEqual(sent.slice(0, 3).map((f) => f.id));
    while (got.length < sent.length) {
      socket.send(ackFrame(bob.did, got[got.length - 3]!));
      got.push(await socket.next((f) => f.type === 'message'));
      expect((await socket.drain(50)).filter((f) => f.type === 'message')).toEqual([]);
    }
    expect(got.map((f) => f.id)).toEqual(sent.map((f) => f.id));
  });

  it('pages by bytes too, a frame larger than the window goes alone, and new frames wait their turn', async () => {
    const [bob, alice] = [await registeredAgent(), await registeredAgent()];
    await writeTo(bob, alice);
    await configure(bob.did, { backlogWindowFrames: 100, backlogWindowBytes: 3000 });
    const sent = [bigFrame(alice.did, bob.did, 1400, 0), bigFrame(alice.did, bob.did, 1400, 1), bigFrame(alice.did, bob.did, 5000, 2), bigFrame(alice.did, bob.did, 1000, 3)];
    for (const f of sent) expect((await post(alice, f)).status).toBe(202);
    const socket = await TestSocket.connectSigned(bob.identity);
    open.push(socket);
    const page = async () => (await socket.drain(100)).filter((f) => f.type === 'message').map((f) => f.id);
    expect(await page()).toEqual([sent[0]!.id, sent[1]!.id]);
    // A frame arriving now queues behind the backlog (arrival order holds) and is "stored", not pushed.
    const live = messageFrame(alice.did, bob.did, 4);
    expect(await post(alice, live)).toMatchObject({ status: 202, result: 'stored' });
    socket.send(ackFrame(bob.did, sent[0]!));
    socket.send(ackFrame(bob.did, sent[1]!));
    expect(await page()).toEqual([sent[2]!.id]);
    socket.send(ackFrame(bob.did, sent[2]!));
    expect(await page()).toEqual([sent[3]!.id, live.id]);
  });

  it('frames left unacknowledged stop holding the window after backlogHoldMs, so they cannot stall the rest', async () => {
    const [bob, alice] = [await registeredAgent(), await registeredAgent()];
    await writeTo(bob, alice);
    await configure(bob.did, { backlogWindowFrames: 2 });
    const sent = Array.from({ length: 5 }, (_, n) => messageFrame(alice.did, bob.did, n));
    for (const f of sent) await post(alice, f);
    const socket = await TestSocket.connectSigned(bob.identity);
    open.push(socket);
    const messages = async () => (await socket.drain()).filter((f) => f.type === 'message').map((f) => f.id);
    expect(await messages()).toEqual(sent.slice(0, 2).map((f) => f.id));
    // The client never acknowledges these two (say they fail to decrypt); after the hold, the next page goes.
    await shiftClock(bob.did, 11_000);
    await runDurableObjectAlarm(agentStub(bob.did));
    expect(await messages()).toEqual(sent.slice(2, 4).map((f) => f.id));
    // An ack frees room at once again.
    socket.send(ackFrame(bob.did, sent[2]!));
    expect(await messages()).toEqual([sent[4]!.id]);
  });

  it('urgent frames (the trust handshake) pass a full window at once', async () => {
    const [bob, alice] = [await registeredAgent(), await registeredAgent()];
    await writeTo(bob, alice);
    await configure(bob.did, { backlogWindowFrames: 1 });
    const backlog = [messageFrame(alice.did, bob.did, 0), messageFrame(alice.did, bob.did, 1)];
    for (const f of backlog) await post(alice, f);
    const socket = await TestSocket.connectSigned(bob.identity);
    open.push(socket);
    expect((await socket.drain()).filter((f) => f.type === 'message').map((f) => f.id)).toEqual([backlog[0]!.id]);
    // Bob's handler of the first frame waits for a handshake answer: it must not queue behind the window.
    const answer = { v: 1, type: 'trust_response', from: alice.did, to: bob.did, id: crypto.randomUUID(), ts: new Date().toISOString(), reply_to: crypto.randomUUID() };
    expect(await post(alice, answer)).toMatchObject({ status: 202, result: 'delivered' });
    expect(await socket.next((f) => f.id === answer.id)).toMatchObject({ type: 'trust_response' });
    socket.send(ackFrame(bob.did, backlog[0]!));
    expect(await socket.next((f) => f.type === 'message')).toMatchObject({ id: backlog[1]!.id });
    // The urgent frame is not sent twice on this connection.
    socket.send(ackFrame(bob.did, backlog[1]!));
    expect((await socket.drain()).filter((f) => f.id === answer.id)).toEqual([]);
  });
});
