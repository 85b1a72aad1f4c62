// Two Node MeshAgents through a real `wrangler dev` on 127.0.0.1: trust handshake, X3DH and the
// ratchet over the relay, sessions kept in the agents' stores across restarts.
import { describe, expect, it } from 'vitest';
import { MeshAgent, type MeshAgentOptions, type RejectedFrame } from '../src/agent/index.js';
import { AuthenticationError } from '../src/errors.js';
import { fromBase64Any, fromUtf8, toBase64Url } from '../src/encoding.js';
import { MemoryAgentStore } from '../src/storage/memory.js';
import { StaticTrustProvider } from '../src/trust/provider.js';
import { TrustError } from '../src/trust/errors.js';
import { useLocalMesh } from './mesh-fixtures.js';

const mesh = useLocalMesh();
const start = (options: Partial<MeshAgentOptions> & { store: MeshAgentOptions['store'] }): Promise<MeshAgent> => mesh.start(options);

function inbox(agent: MeshAgent): { texts: string[]; next: (n: number) => Promise<string[]> } {
  const texts: string[] = [];
  const waiters: (() => void)[] = [];
  agent.onMessage((_from, plaintext) => {
    texts.push(fromUtf8(plaintext));
    waiters.splice(0).forEach((w) => w());
  });
  return {
    texts,
    async next(n: number) {
      const deadline = Date.now() + 15_000;
      while (texts.length < n) {
        if (Date.now() > deadline) throw new Error(`waited for ${n} messages, have ${texts.length}: ${JSON.stringify(texts)}`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 200);
        });
      }
      return texts.slice(0, n);
    },
  };
}

describe('MeshAgent over the local Worker', () => {
  it('opens a trust-gated session on first send and talks both ways', async () => {
    const alice = await start({ store: new MemoryAgentStore() });
    const bob = await start({ store: new MemoryAgentStore() });
    const bobInbox = inbox(bob);
    const aliceInbox = inbox(alice);
    await alice.send(bob.did, 'hello bob');
    await alice.send(bob.did, 'second, before any reply');
    expect(await bobInbox.next(2)).toEqual(['hello bob', 'second, before any reply']);
    await bob.send(alice.did, 'hello alice');
    expect(await aliceInbox.next(1)).toEqual(['hello alice']);
    const info = await bob.sessions.getSession(alice.did);
    expect(info?.role).toBe('responder');
    expect((info?.trust as { score: number }).score).toBeGreaterThanOrEqual(500);
  }, 60_000);

  it('a recipient offline for a while gets every message afterwards, in order, once; sessions survive restarts', async () => {
    const aliceStore = new MemoryAgentStore();
    const bobStore = new MemoryAgentStore();
    const alice = await start({ store: aliceStore });
    let bob = await start({ store: bobStore });
    const first = inbox(bob);
    await alice.send(bob.did, 'm0');
    expect(await first.next(1)).toEqual(['m0']);
    await bob.close();

    const sent = Array.from({ length: 6 }, (_, i) => `offline ${i + 1}`);
    for (const text of sent) await alice.send(bob.did, text);

    bob = await start({ store: bobStore });
    const later = inbox(bob);
    expect(await later.next(sent.length)).toEqual(sent);
    await new Promise((r) => setTimeout(r, 500));
    expect(later.texts).toEqual(sent);

    const aliceInbox = inbox(alice);
    await bob.send(alice.did, 'back online');
    expect(await aliceInbox.next(1)).toEqual(['back online']);
  }, 90_000);

  it('two agents that write to each other at the same moment end up in one session and lose nothing', async () => {
    for (let attempt = 0; attempt < 3; attempt++) {
      const alice = await start({ store: new MemoryAgentStore() });
      const bob = await start({ store: new MemoryAgentStore() });
      const aliceInbox = inbox(alice);
      const bobInbox = inbox(bob);
      const rejected: RejectedFrame[] = [];
      alice.onRejected((r) => rejected.push(r));
      bob.onRejected((r) => rejected.push(r));
      await Promise.all([
        (async () => {
          await alice.send(bob.did, 'a0');
          await alice.send(bob.did, 'a1');
        })(),
        (async () => {
          await bob.send(alice.did, 'b0');
          await bob.send(alice.did, 'b1');
        })(),
      ]);
      expect(await bobInbox.next(2)).toEqual(['a0', 'a1']);
      expect(await aliceInbox.next(2)).toEqual(['b0', 'b1']);
      for (let i = 2; i < 5; i++) {
        await alice.send(bob.did, `a${i}`);
        await bob.send(alice.did, `b${i}`);
      }
      expect(await bobInbox.next(5)).toEqual(['a0', 'a1', 'a2', 'a3', 'a4']);
      expect(await aliceInbox.next(5)).toEqual(['b0', 'b1', 'b2', 'b3', 'b4']);
      expect(rejected).toEqual([]);
      const roles = [(await alice.sessions.getSession(bob.did))?.role, (await bob.sessions.getSession(alice.did))?.role];
      expect(roles.sort()).toEqual(['initiator', 'responder']);
    }
  }, 120_000);

  it('refuses a peer below the threshold before any key exchange, on both sides', async () => {
    const strict = await start({ store: new MemoryAgentStore(), minTrustScore: 900 });
    const other = await start({ store: new MemoryAgentStore() });
    await expect(strict.send(other.did, 'no')).rejects.toBeInstanceOf(TrustError);
    expect(await strict.sessions.hasSession(other.did)).toBe(false);
    // The other side: a sender whose own check passes is still refused by the strict recipient.
    await expect(other.send(strict.did, 'let me in')).rejects.toBeInstanceOf(TrustError);
    expect(await other.sessions.hasSession(strict.did)).toBe(false);
  }, 60_000);

  it('a frame tampered with on the way is rejected and acknowledged; the conversation goes on', async () => {
    const alice = await start({ store: new MemoryAgentStore() });
    const bob = await start({ store: new MemoryAgentStore() });
    const bobInbox = inbox(bob);
    const rejected: RejectedFrame[] = [];
    bob.onRejected((r) => rejected.push(r));
    await alice.send(bob.did, 'genuine 1');
    expect(await bobInbox.next(1)).toEqual(['genuine 1']);
    const message = await alice.sessions.send(bob.did, new TextEncoder().encode('will be tampered'));
    const frame = message.toFrame();
    const bytes = fromBase64Any(frame.ciphertext);
    bytes[bytes.length - 1]! ^= 1;
    await alice.relay.send({ type: 'message', to: bob.did, header: frame.header, ciphertext: toBase64Url(bytes) });
    await alice.send(bob.did, 'genuine 2');
    expect(await bobInbox.next(2)).toEqual(['genuine 1', 'genuine 2']);
    expect(rejected).toHaveLength(1);
    expect(rejected[0]!.error).toBeInstanceOf(AuthenticationError);
    // Acknowledged: a restart of Bob does not bring it back.
    expect((await bob.registry.fetchInbox()).frames).toHaveLength(0);
  }, 60_000);

  it('uses a given trust provider', async () => {
    const bob = await start({ store: new MemoryAgentStore() });
    const alice = await start({ store: new MemoryAgentStore(), trustProvider: new StaticTrustProvider({ [bob.did]: 100 }) });
    await expect(alice.send(bob.did, 'x')).rejects.toMatchObject({ reason: 'insufficient_trust' });
  }, 60_000);
});
