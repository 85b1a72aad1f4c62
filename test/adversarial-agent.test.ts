/**
 * MeshAgents under fire from strangers, through a real `wrangler dev`: a short run of
 * `npm run fuzz`'s agent part (fuzz/agent.ts) — victims keep talking with peers they know while
 * freshly registered DIDs send handshake requests, mutated challenges and proofs, poisoned
 * establishments, stray answers, KNOCKs and junk (issue 14 classes 2–4).
 *
 * FUZZ_SEED=<n> runs another seed; FUZZ_AGENT_FRAMES=<n> a longer run.
 */
import { WebSocket as NodeWebSocket } from 'undici';
import { describe, expect, it } from 'vitest';
import { startLocalWorker } from '../scripts/local-worker.mjs';
import { runAgentFuzz } from '../fuzz/agent.js';
import type { WebSocketLike } from '../src/net/relay-client.js';

const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env ?? {};
const SEED = Number.parseInt(env.FUZZ_SEED ?? '', 10) || 20261204;
const FRAMES = Number.parseInt(env.FUZZ_AGENT_FRAMES ?? '', 10) || 600;

describe('MeshAgents under fire from strangers', () => {
  it(`seed ${SEED}, ${FRAMES} abuse frames: every victim's messages arrive, in order, as fast as before, and the relay never refuses the victim`, async () => {
    const worker = await startLocalWorker();
    try {
      const result = await runAgentFuzz({ seed: SEED, url: worker.url, frames: FRAMES, victims: 2, framesPerAttacker: 100, webSocket: (url) => new NodeWebSocket(url) as unknown as WebSocketLike });
      expect(result.failures, JSON.stringify({ failures: result.failures, latency: result.latency }, null, 2)).toEqual([]);
      expect(result.frames).toBe(FRAMES);
      expect(result.messages).toBeGreaterThan(0);
      expect(result.counts['rejected: budget_exceeded'] ?? 0).toBeGreaterThan(0);
    } finally {
      await worker.stop();
    }
  }, 300_000);
});
