// Connection slots (issue 14, class 1): sockets that never authenticate must never cost the owner
// a place. The owner signs the upgrade request, which is verified before the socket is accepted;
// sockets that wait for a first-frame `connect` live in their own, smaller budget, per address
// and per agent, where a newcomer closes the oldest waiting one and never an authenticated one.
import { SELF, runInDurableObject } from 'cloudflare:test';
import { afterEach, describe, expect, it } from 'vitest';
import { RelayClient, type WebSocketLike } from '../../src/net/relay-client.js';
import { RequestSigner } from '../../src/net/signing.js';
import type { AgentObject } from '../agent-object.js';
import { BASE, TestSocket, agentStub, messageFrame, registeredAgent, workerWebSocket } from './helpers.js';

const open: TestSocket[] = [];
const clients: RelayClient[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) s.close();
  for (const c of clients.splice(0)) await c.close();
});

/** Opens an idle socket without any credentials, as an attacker would (the answer is not checked). */
async function idleSocket(did: string, address: string): Promise<void> {
  const res = await SELF.fetch(`${BASE}/v1/agents/${did}/relay`, { headers: { upgrade: 'websocket', 'cf-connecting-ip': address } });
  if (res.webSocket) {
    res.webSocket.accept();
    open.push({ close: () => res.webSocket!.close(1000, 'done') } as TestSocket);
  }
}

/** Sockets the relay holds for an agent: authenticated, and waiting for `connect`. */
async function sockets(did: string): Promise<{ authed: number; waiting: number }> {
  return runInDurableObject(agentStub(did), (_o: AgentObject, state) => {
    const all = state.getWebSockets().filter((ws) => ws.readyState === 1).map((ws) => ws.deserializeAttachment() as { authed: boolean });
    return { authed: all.filter((s) => s.authed).length, waiting: all.filter((s) => !s.authed).length };
  });
}

describe('connection slots under a flood of idle sockets', () => {
  it('with more idle unauthenticated sockets open than any cap, the victim connects on its first try', async () => {
    const victim = await registeredAgent();
    // 24 idle sockets from 12 addresses: three times the old per-agent limit (8 sockets of any kind).
    for (let i = 0; i < 24; i++) await idleSocket(victim.did, `198.51.100.${i % 12}`);
    const attempts: string[] = [];
    const client = new RelayClient({
      url: BASE,
      identity: victim.identity,
      webSocket: async (url): Promise<WebSocketLike> => {
        attempts.push(url);
        return workerWebSocket(url);
      },
    });
    clients.push(client);
    const errors: unknown[] = [];
    client.onEvent((e) => void (e.type === 'error' && errors.push(e.error)));
    await client.connect();
    expect(attempts).toHaveLength(1);
    expect(errors).toEqual([]);
    // The waiting sockets stayed in their own budget (8), and the victim's socket serves.
    expect(await sockets(victim.did)).toEqual({ authed: 1, waiting: 8 });
    const alice = await registeredAgent();
    const got: string[] = [];
    client.onFrame((f) => void got.push(f.id));
    const frame = messageFrame(alice.did, victim.did);
    expect(await alice.client.postFrame(frame as never)).toMatchObject({ status: 'delivered' });
    await expect.poll(() => got).toEqual([frame.id]);
  });

  it("waiting sockets never displace the owner's, and one address only recycles its own two places", async () => {
    const [victim, alice] = [await registeredAgent(), await registeredAgent()];
    const owner = await TestSocket.connectSigned(victim.identity);
    open.push(owner);
    for (let i = 0; i < 20; i++) await idleSocket(victim.did, '203.0.113.7');
    expect(await sockets(victim.did)).toEqual({ authed: 1, waiting: 2 });
    expect(owner.closeCode).toBeNull();
    // A client that authenticates with a first-frame connect, from another address, still gets in.
    const legacy = await TestSocket.open(victim.did, '', { 'cf-connecting-ip': '192.0.2.1' });
    open.push(legacy);
    const auth = await new RequestSigner(victim.identity).connectAuth();
    legacy.send({ v: 1, type: 'connect', from: victim.did, to: 'relay', id: crypto.randomUUID(), ts: new Date().toISOString(), auth, supported_versions: [1] });
    await legacy.next((f) => f.type === 'connected');
    expect(await sockets(victim.did)).toEqual({ authed: 2, waiting: 2 });
    // Both of the owner's sockets get a new frame.
    const frame = messageFrame(alice.did, victim.did);
    await alice.client.postFrame(frame as never);
    expect(await owner.next((f) => f.id === frame.id)).toMatchObject({ id: frame.id });
    expect(await legacy.next((f) => f.id === frame.id)).toMatchObject({ id: frame.id });
  });

  it('a signed upgrade is verified before the socket is kept: a copy, another signer or another path is refused and closed', async () => {
    const [victim, mallory] = [await registeredAgent(), await registeredAgent()];
    const query = await TestSocket.upgradeQuery(victim.identity);
    const first = await TestSocket.open(victim.did, query);
    open.push(first);
    await first.next((f) => f.type === 'connected');
    // The same signed URL again (a captured link, a proxy log): refused as a replay.
    const copy = await TestSocket.open(victim.did, query);
    expect(await copy.next((f) => f.type === 'error')).toMatchObject({ code: 'replayed_signature', status: 401 });
    expect(await copy.closed()).toBe(4401);
    // Mallory's own signed upgrade, on the victim's endpoint.
    const onVictims = await TestSocket.open(victim.did, await TestSocket.upgradeQuery(mallory.identity));
    expect(await onVictims.closed()).toBe(4401);
    // The victim's signature over another request (its pre-key count) does not open its relay.
    const other = await new RequestSigner(victim.identity).authorization('GET', `/v1/agents/${victim.did}/prekeys/count`);
    const wrongPath = await TestSocket.open(victim.did, `?auth=${encodeURIComponent(other)}`);
    expect(await wrongPath.closed()).toBe(4401);
    // None of them took a place: only the owner's first socket is held.
    expect(await sockets(victim.did)).toEqual({ authed: 1, waiting: 0 });
    expect(first.closeCode).toBeNull();
  });

  it("the connect frame a signed socket sends for older relays is spent too: replayed on an unsigned socket, it is refused", async () => {
    // Found by npm run fuzz: the relay ignored this frame without spending its signature, so
    // whoever saw it (a log of socket frames) could open a socket as the owner for five minutes:
    // one of the owner's 4 places, its frames, and acks that delete them.
    const victim = await registeredAgent();
    const owner = await TestSocket.connectSigned(victim.identity);
    open.push(owner);
    const auth = await new RequestSigner(victim.identity).connectAuth();
    const connect = { v: 1, type: 'connect', from: victim.did, to: 'relay', id: crypto.randomUUID(), ts: new Date().toISOString(), auth, supported_versions: [1] };
    owner.send(connect);
    await owner.barrier(victim.did);
    await owner.barrier(victim.did);
    expect(owner.frames.filter((f) => f.type === 'error')).toEqual([]);
    const replay = await TestSocket.open(victim.did, '', { 'cf-connecting-ip': '192.0.2.9' });
    open.push(replay);
    replay.send(connect);
    expect(await replay.next((f) => f.type === 'connected' || f.type === 'error')).toMatchObject({ type: 'error', code: 'replayed_signature' });
    expect(await replay.closed()).toBe(4401);
    expect(await sockets(victim.did)).toEqual({ authed: 1, waiting: 0 });
    expect(owner.closeCode).toBeNull();
  });
});
