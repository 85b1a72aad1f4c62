// Node MeshAgents against one real `wrangler dev` per test file: the Worker starts before the
// file's tests and stops after them, with every agent and relay client the tests opened.
import { WebSocket as NodeWebSocket } from 'undici';
import { afterAll, beforeAll } from 'vitest';
import { startLocalWorker, type LocalWorker } from '../scripts/local-worker.mjs';
import { MeshAgent, type MeshAgentOptions } from '../src/agent/index.js';
import type { WebSocketLike } from '../src/net/relay-client.js';
import { MemoryAgentStore } from '../src/storage/memory.js';

/** Node 20's WebSocket for the SDK's relay client (undici's). */
export const nodeWebSocket = (url: string) => new NodeWebSocket(url) as unknown as WebSocketLike;

export function useLocalMesh(): {
  /** The running Worker's URL (inside tests and hooks). */
  url(): string;
  /** A MeshAgent on the Worker: a memory store, no upkeep timer, 5 s handshakes, unless overridden. */
  start(options?: Partial<MeshAgentOptions>): Promise<MeshAgent>;
  /** Closed with the Worker after the file's tests. */
  track<T extends { close(): Promise<void> }>(client: T): T;
} {
  let worker: LocalWorker | undefined;
  const running: { close(): Promise<void> }[] = [];
  beforeAll(async () => {
    worker = await startLocalWorker();
  }, 120_000);
  afterAll(async () => {
    for (const c of running) await c.close().catch(() => undefined);
    await worker?.stop();
  });
  const url = () => {
    if (!worker) throw new Error('the local Worker is not running (use url() inside tests)');
    return worker.url;
  };
  const track = <T extends { close(): Promise<void> }>(client: T): T => {
    running.push(client);
    return client;
  };
  return {
    url,
    track,
    start: async (options = {}) =>
      track(await MeshAgent.create({ registryUrl: url(), webSocket: nodeWebSocket, store: new MemoryAgentStore(), upkeepIntervalMs: 0, handshakeTimeoutMs: 5000, ...options })),
  };
}
