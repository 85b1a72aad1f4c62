// Durable Objects restarted in the middle of relaying: frames confirmed before the restart are
// delivered once after it, frames sent again (same id) are duplicates, acknowledged frames never
// come back, and clients that reconnect lose nothing and handle nothing twice.
import { SELF, abortAllDurableObjects, runInDurableObject } from 'cloudflare:test';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RelayClient } from '../../src/net/relay-client.js';
import type { AgentObject } from '../agent-object.js';
import { BASE, agentStub, messageFrame, registeredAgent, signedRequest, type TestAgent, workerWebSocket } from './helpers.js';

const clients: RelayClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
});

async function mark(did: string): Promise<void> {
  await runInDurableObject(agentStub(did), (o: AgentObject) => void ((o as unknown as { mark?: true }).mark = true));
}
async function restarted(did: string): Promise<boolean> {
  return runInDurableObject(agentStub(did), (o: AgentObject) => (o as unknown as { mark?: true }).mark === undefined);
}

/** Posts a frame; null when the restart cut the request off (the sender cannot know whether it was stored). */
async function post(from: TestAgent, frame: Record<string, unknown>): Promise<{ status: number; result?: string } | null> {
  return send(await signedRequest(from.identity, 'POST', `/v1/agents/${frame.to as string}/inbox`, { body: JSON.stringify(frame) }));
}

async function send(request: Request): Promise<{ status: number; result?: string } | null> {
  try {
    const res = await SELF.fetch(request);
    const body = (await res.json()) as { status?: string };
    return { status: res.status, result: body.status };
  } catch {
    return null;
  }
}

async function inboxIds(agent: TestAgent): Promise<string[]> {
  const ids: string[] = [];
  let after: number | undefined;
  for (;;) {
    const page = await agent.client.fetchInbox({ after });
    ids.push(...page.frames.map((f) => f.id));
    if (page.next === null) return ids;
    after = page.next;
  }
}

describe('a restart in the middle of HTTP relaying', () => {
  it('loses no confirmed frame, stores none twice, and never brings back an acknowledged one', async () => {
    // The restart lands at a different point of the burst each round. (workerd lets requests that
    // already reached the object finish first; cuts inside a request are the next test's.)
    for (const delayMs of [0, 0, 1, 2, 4]) {
      const [alice, bob] = [await registeredAgent(), await registeredAgent()];
      await mark(bob.did);
      const frames = Array.from({ length: 8 }, (_, n) => messageFrame(alice.did, bob.did, n));
      const requests = await Promise.all(frames.map((f) => signedRequest(alice.identity, 'POST', `/v1/agents/${bob.did}/inbox`, { body: JSON.stringify(f) })));
      const burst = Promise.all(requests.map((r) => send(r)));
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
      await abortAllDurableObjects();
      const results = await burst;
      expect(await restarted(bob.did)).toBe(true);
      const confirmed = frames.filter((_, i) => results[i]?.status === 202).map((f) => f.id as string);
      // Every confirmed frame survived the restart.
      const stored = await inboxIds(bob);
      for (const id of confirmed) expect(stored).toContain(id);
      // The sender sends everything not confirmed again, with the same ids: stored once, or "duplicate".
      for (const [i, f] of frames.entries()) {
        if (results[i]?.status === 202) continue;
        const again = await post(alice, f);
        expect(again?.status).toBe(202);
        expect(['stored', 'duplicate']).toContain(again?.result);
      }
      const all = await inboxIds(bob);
      expect([...all].sort()).toEqual(frames.map((f) => f.id as string).sort());

      // Bob acknowledges half; a restart; the other half is still there once, the acknowledged never.
      const acked = frames.slice(0, 4).map((f) => ({ from: alice.did, id: f.id as string }));
      expect(await bob.client.ackInbox(acked)).toBe(4);
      await mark(bob.did);
      await abortAllDurableObjects();
      expect(await restarted(bob.did)).toBe(true);
      expect((await inboxIds(bob)).sort()).toEqual(frames.slice(4).map((f) => f.id as string).sort());
      for (const f of frames.slice(0, 4)) expect(await post(alice, f)).toMatchObject({ status: 202, result: 'duplicate' });
      expect((await inboxIds(bob)).sort()).toEqual(frames.slice(4).map((f) => f.id as string).sort());
    }
  });
});

/**
 * Makes the object die right after one of its writes: the write is committed (Durable Object
 * storage commits each statement), the request fails, and the object restarts.
 */
async function crashAfter(did: string, method: 'addToInbox' | 'acknowledge' | 'claimOneTimePreKey'): Promise<void> {
  await runInDurableObject(agentStub(did), (o: AgentObject) => {
    const store = o.store as unknown as Record<string, (...args: unknown[]) => unknown>;
    const original = store[method]!.bind(o.store);
    store[method] = (...args: unknown[]) => {
      original(...args);
      throw new Error(`injected crash after ${method}`);
    };
  });
}

describe('a crash right after a write of the relay', () => {
  // The Worker logs each unexpected error; here they are the injected crashes, so they are checked
  // rather than printed (a green run should not show stack traces).
  let logged: ReturnType<typeof vi.spyOn>;
  beforeEach(() => {
    logged = vi.spyOn(console, 'error').mockImplementation(() => undefined);
  });
  afterEach(() => {
    const crashes = logged.mock.calls.filter(([what, error]: unknown[]) => what === 'unexpected error' && /^injected crash after /.test(String((error as Error)?.message)));
    const others = logged.mock.calls.length - crashes.length;
    logged.mockRestore();
    expect(crashes.length, 'the injected crash was logged as an unexpected error').toBeGreaterThan(0);
    expect(others, 'nothing else was logged').toBe(0);
  });

  it('after storing a frame: the sender is not told, sends again, and the frame is stored once', async () => {
    const [alice, bob] = [await registeredAgent(), await registeredAgent()];
    const frame = messageFrame(alice.did, bob.did);
    await crashAfter(bob.did, 'addToInbox');
    expect((await post(alice, frame))?.status).toBe(500);
    await mark(bob.did);
    await abortAllDurableObjects();
    expect(await restarted(bob.did)).toBe(true);
    expect(await post(alice, frame)).toMatchObject({ status: 202, result: 'duplicate' });
    expect(await inboxIds(bob)).toEqual([frame.id]);
  });

  it('after deleting an acknowledged frame: the frame does not come back, and a resend is a duplicate', async () => {
    const [alice, bob] = [await registeredAgent(), await registeredAgent()];
    const frames = [messageFrame(alice.did, bob.did, 0), messageFrame(alice.did, bob.did, 1)];
    for (const f of frames) expect((await post(alice, f))?.status).toBe(202);
    await crashAfter(bob.did, 'acknowledge');
    await expect(bob.client.ackInbox([{ from: alice.did, id: frames[0]!.id as string }])).rejects.toMatchObject({ status: 500 });
    await abortAllDurableObjects();
    // Bob acknowledges again (he never heard back): nothing left to delete, and nothing comes back.
    expect(await bob.client.ackInbox([{ from: alice.did, id: frames[0]!.id as string }])).toBe(0);
    expect(await inboxIds(bob)).toEqual([frames[1]!.id]);
    expect(await post(alice, frames[0]!)).toMatchObject({ status: 202, result: 'duplicate' });
    expect(await inboxIds(bob)).toEqual([frames[1]!.id]);
  });

  it('after claiming a one-time pre-key: the key is gone for good, never handed out again', async () => {
    const bob = await (await import('./helpers.js')).publishedAgent(3);
    await crashAfter(bob.did, 'claimOneTimePreKey');
    expect((await SELF.fetch(`${BASE}/v1/agents/${bob.did}/prekeys`)).status).toBe(500);
    await abortAllDurableObjects();
    const ids: (number | null)[] = [];
    for (let i = 0; i < 3; i++) {
      const body = (await (await SELF.fetch(`${BASE}/v1/agents/${bob.did}/prekeys`)).json()) as { one_time_pre_key: { key_id: number } | null };
      ids.push(body.one_time_pre_key?.key_id ?? null);
    }
    // Key 0 was claimed when the object died: it is burnt, not reused.
    expect(ids).toEqual([1, 2, null]);
  });
});

describe('a restart in the middle of WebSocket relaying', () => {
  const client = (agent: TestAgent) => {
    const c = new RelayClient({ url: BASE, identity: agent.identity, webSocket: workerWebSocket, backoff: { initialDelayMs: 20, maxDelayMs: 100 }, sendTimeoutMs: 0 });
    clients.push(c);
    return c;
  };

  it('clients reconnect, resend what was not confirmed, and each frame is handled exactly once', async () => {
    const [alice, bob] = [await registeredAgent(), await registeredAgent()];
    const sender = client(alice);
    const receiver = client(bob);
    const handled: string[] = [];
    receiver.onFrame(async (f) => {
      handled.push(f.id);
    });
    await Promise.all([sender.connect(), receiver.connect()]);
    const reconnects: string[] = [];
    for (const [name, c] of [['alice', sender], ['bob', receiver]] as const) c.onEvent((e) => void (e.type === 'connected' && reconnects.push(name)));
    await Promise.all([mark(alice.did), mark(bob.did)]);
    const frames = Array.from({ length: 8 }, (_, n) => messageFrame(alice.did, bob.did, n));
    const receipts = frames.map(({ v: _v, from: _f, ...f }) => sender.send(f as never));
    // Restart both objects while frames are on their way.
    await new Promise((r) => setTimeout(r, 5));
    await abortAllDurableObjects();
    const settled = await Promise.allSettled(receipts);
    expect(settled.every((s) => s.status === 'fulfilled')).toBe(true);
    expect(await restarted(alice.did)).toBe(true);
    await expect.poll(() => [...handled].sort(), { timeout: 10_000 }).toEqual(frames.map((f) => f.id as string).sort());
    // Handled once each, in send order, and nothing waits on the relay any more.
    expect(handled).toEqual(frames.map((f) => f.id));
    await expect.poll(async () => (await inboxIds(bob)).length, { timeout: 5000 }).toBe(0);
    // The restart closed both sockets; both clients connected again.
    await expect.poll(() => [...new Set(reconnects)].sort(), { timeout: 5000 }).toEqual(['alice', 'bob']);
  });
});
