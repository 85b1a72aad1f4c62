/**
 * Two MeshAgents talking through a registry + relay (the local Worker that `npm start` runs, or any
 * deployment): registration, pre-key upload, trust handshake, X3DH and the ratchet, all under
 * `agent.send`. Usage: tsx examples/mesh-agents.ts http://127.0.0.1:8787
 */
import { WebSocket } from 'undici';
import { MeshAgent, MemoryAgentStore, fromUtf8, type WebSocketLike } from '../src/index.js';

const registryUrl = process.argv[2] ?? 'http://127.0.0.1:8787';
// Node 20 has no global WebSocket; browsers and Workers need no option.
const webSocket = (url: string) => new WebSocket(url) as unknown as WebSocketLike;

const alice = await MeshAgent.create({ registryUrl, store: new MemoryAgentStore(), capabilities: ['chat'], webSocket });
const bob = await MeshAgent.create({ registryUrl, store: new MemoryAgentStore(), capabilities: ['chat', 'summarise'], webSocket });
console.log(`alice ${alice.did}\nbob   ${bob.did}`);

const done = new Promise<void>((resolve) => {
  bob.onMessage(async (from, plaintext) => {
    console.log(`bob   <- ${fromUtf8(plaintext)}`);
    await bob.send(from, `summary of "${fromUtf8(plaintext)}": fine`);
  });
  alice.onMessage((_from, plaintext) => {
    console.log(`alice <- ${fromUtf8(plaintext)}`);
    resolve();
  });
});

await alice.send(bob.did, 'Please summarise the Q3 report.');
await done;
const info = await alice.sessions.getSession(bob.did);
console.log(`session: ${info?.messageCount} messages, trust ${JSON.stringify(info?.trust)}`);
await alice.close();
await bob.close();
