// Abuse of the relay inbox: flooding from one sender and from many, concurrently, over HTTP and
// WebSocket. The caps hold exactly, refused frames leave no trace, other senders keep their share,
// and acknowledging frees room.
import { SELF, runInDurableObject } from 'cloudflare:test';
import { afterEach, describe, expect, it } from 'vitest';
import type { AgentObject } from '../agent-object.js';
import { BASE, TestSocket, agentStub, messageFrame, registeredAgent, signedRequest, type TestAgent } from './helpers.js';

// worker/vitest.config.ts: INBOX_MAX_PER_RECIPIENT 12, INBOX_MAX_PER_SENDER 8.
const PER_RECIPIENT = 12;
const PER_SENDER = 8;

const open: TestSocket[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});

async function inboxCount(did: string, sender?: string): Promise<number> {
  return runInDurableObject(agentStub(did), (o: AgentObject) => o.store.inboxCount(sender));
}

/** Posts a frame over the HTTP fallback; returns the status and error code. */
async function post(from: TestAgent, frame: Record<string, unknown>): Promise<{ status: number; code?: string; result?: string }> {
  const res = await SELF.fetch(await signedRequest(from.identity, 'POST', `/v1/agents/${frame.to as string}/inbox`, { body: JSON.stringify(frame) }));
  const body = (await res.json()) as { error?: string; status?: string };
  return { status: res.status, code: body.error, result: body.status };
}

describe('inbox flooding', () => {
  it('one sender is capped per recipient; refused frames are not stored; other senders still get through', async () => {
    const [bob, mallory, alice] = [await registeredAgent(), await registeredAgent(), await registeredAgent()];
    const results = [];
    for (let n = 0; n < PER_SENDER + 5; n++) results.push(await post(mallory, messageFrame(mallory.did, bob.did, n)));
    expect(results.slice(0, PER_SENDER).every((r) => r.status === 202)).toBe(true);
    expect(results.slice(PER_SENDER).every((r) => r.status === 429 && r.code === 'inbox_full')).toBe(true);
    expect(await inboxCount(bob.did, mallory.did)).toBe(PER_SENDER);
    // Alice's share is untouched by Mallory's flood.
    expect((await post(alice, messageFrame(alice.did, bob.did))).status).toBe(202);
    expect(await inboxCount(bob.did)).toBe(PER_SENDER + 1);
  });

  it('many senders are capped per recipient, exactly, even when they post all at once', async () => {
    const bob = await registeredAgent();
    const senders = await Promise.all(Array.from({ length: 6 }, () => registeredAgent()));
    const frames = senders.flatMap((s) => Array.from({ length: 5 }, (_, n) => ({ s, f: messageFrame(s.did, bob.did, n) })));
    const results = await Promise.all(frames.map(({ s, f }) => post(s, f)));
    expect(results.filter((r) => r.status === 202)).toHaveLength(PER_RECIPIENT);
    expect(results.filter((r) => r.status === 429 && r.code === 'inbox_full')).toHaveLength(frames.length - PER_RECIPIENT);
    expect(await inboxCount(bob.did)).toBe(PER_RECIPIENT);
  });

  it('a duplicate takes no room, and acknowledging frees room', async () => {
    const [bob, mallory] = [await registeredAgent(), await registeredAgent()];
    const frames = Array.from({ length: PER_SENDER }, (_, n) => messageFrame(mallory.did, bob.did, n));
    for (const f of frames) expect((await post(mallory, f)).status).toBe(202);
    // Copies of stored frames are answered "duplicate", not refused, and stored nowhere.
    for (const f of frames.slice(0, 3)) expect(await post(mallory, f)).toMatchObject({ status: 202, result: 'duplicate' });
    expect((await post(mallory, messageFrame(mallory.did, bob.did, 99))).status).toBe(429);
    // Bob takes three; Mallory may send three more, and the acknowledged ones do not come back.
    expect(await bob.client.ackInbox(frames.slice(0, 3).map((f) => ({ from: mallory.did, id: f.id as string })))).toBe(3);
    for (let n = 0; n < 3; n++) expect((await post(mallory, messageFrame(mallory.did, bob.did, 100 + n))).status).toBe(202);
    expect((await post(mallory, messageFrame(mallory.did, bob.did, 200))).status).toBe(429);
    for (const f of frames.slice(0, 3)) expect(await post(mallory, f)).toMatchObject({ status: 202, result: 'duplicate' });
    const ids = (await bob.client.fetchInbox()).frames.map((f) => f.id);
    expect(ids).toHaveLength(PER_SENDER);
    for (const f of frames.slice(0, 3)) expect(ids).not.toContain(f.id);
  });

  it('over WebSocket: the cap answers each frame with an error and the socket stays usable', async () => {
    const [bob, mallory, alice] = [await registeredAgent(), await registeredAgent(), await registeredAgent()];
    const socket = await TestSocket.connect(mallory.identity);
    open.push(socket);
    const frames = Array.from({ length: PER_SENDER + 4 }, (_, n) => messageFrame(mallory.did, bob.did, n));
    for (const f of frames) socket.send(f);
    const answers = await socket.take(frames.length, (f) => f.type === 'ack' || f.type === 'error');
    const acks = answers.filter((f) => f.type === 'ack');
    const errors = answers.filter((f) => f.type === 'error');
    expect(acks).toHaveLength(PER_SENDER);
    expect(errors).toHaveLength(4);
    expect(errors.every((e) => e.code === 'inbox_full' && frames.some((f) => f.id === e.ref_id))).toBe(true);
    expect(socket.closeCode).toBeNull();
    expect(await inboxCount(bob.did)).toBe(PER_SENDER);
    expect((await post(alice, messageFrame(alice.did, bob.did))).status).toBe(202);
  });

  it('a sender cannot fill someone else\'s quota or evict their frames by reusing their ids', async () => {
    const [bob, mallory, alice] = [await registeredAgent(), await registeredAgent(), await registeredAgent()];
    const alices = Array.from({ length: 3 }, (_, n) => messageFrame(alice.did, bob.did, n));
    for (const f of alices) expect((await post(alice, f)).status).toBe(202);
    // Mallory copies Alice's ids into her own frames: deduplication is by (sender, id), so they are hers.
    for (const f of alices) expect(await post(mallory, { ...messageFrame(mallory.did, bob.did), id: f.id })).toMatchObject({ status: 202, result: 'stored' });
    // And she cannot post Alice's frames as Alice.
    expect((await post(mallory, alices[0]!)).status).toBe(403);
    const inbox = (await bob.client.fetchInbox()).frames;
    expect(inbox.filter((f) => f.from === alice.did).map((f) => f.id)).toEqual(alices.map((f) => f.id));
    expect(inbox.filter((f) => f.from === mallory.did)).toHaveLength(3);
  });
});

describe('the rate limit on frames', () => {
  it('a sender past its per-minute budget is refused frame by frame, without being disconnected', async () => {
    const [bob, mallory] = [await registeredAgent(), await registeredAgent()];
    const socket = await TestSocket.connect(mallory.identity);
    open.push(socket);
    // Bob acknowledges nothing, so the inbox cap would stop Mallory first: raise it for this test.
    await runInDurableObject(agentStub(bob.did), (o: AgentObject) => void (o.config = { ...o.config, inboxMaxPerSender: 10_000, inboxMaxPerRecipient: 10_000, inboxMaxPerStranger: 10_000, inboxMaxFromStrangers: 10_000 }));
    const frames = Array.from({ length: 130 }, (_, n) => messageFrame(mallory.did, bob.did, n));
    for (const f of frames) socket.send(f);
    // Each frame gets exactly one answer: an ack once stored, or an error.
    const answers = await socket.take(frames.length, (f) => f.type === 'ack' || f.type === 'error', 10_000);
    const limited = answers.filter((f) => f.type === 'error' && f.code === 'rate_limited');
    expect(limited.length).toBeGreaterThan(0);
    expect(answers.filter((f) => f.type === 'ack').length + limited.length).toBe(frames.length);
    expect(await socket.drain(100)).toEqual([]);
    expect(await inboxCount(bob.did)).toBe(frames.length - limited.length);
    expect(socket.closeCode).toBeNull();
  });
});
