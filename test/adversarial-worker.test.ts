/**
 * The edge service under fire, through a real `wrangler dev` (workerd, SQLite Durable Objects on
 * disk): a short run of `npm run fuzz`'s Worker part (fuzz/worker.ts) — real agents and traffic
 * mixed with replayed, stale and forged signatures, junk, deep and oversized bodies and concurrent
 * claims, with the Worker killed (SIGKILL) and started again on the same state mid-burst. Also the
 * regression it found: a request body the Worker did not read to the end stalled the next request.
 *
 * FUZZ_SEED=<n> runs another seed; FUZZ_WORKER_REQUESTS=<n> a longer run.
 */
import { describe, expect, it } from 'vitest';
import { startLocalWorker } from '../scripts/local-worker.mjs';
import { runWorkerFuzz } from '../fuzz/worker.js';

const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env ?? {};
const SEED = Number.parseInt(env.FUZZ_SEED ?? '', 10) || 20261127;
const REQUESTS = Number.parseInt(env.FUZZ_WORKER_REQUESTS ?? '', 10) || 350;

describe('the local Worker under fire', () => {
  it(`seed ${SEED}, ${REQUESTS} requests and a restart: no 5xx, nothing replayed, lost, duplicated or leaked`, async () => {
    const result = await runWorkerFuzz({ seed: SEED, requests: REQUESTS, restarts: 1, agents: 6, launch: startLocalWorker });
    expect(result.failures, JSON.stringify(result.failures, null, 2)).toEqual([]);
    expect(result.restarts).toBe(1);
    expect(result.requests).toBeGreaterThanOrEqual(REQUESTS);
    const c = result.counts;
    expect(c['frames decrypted'] ?? 0).toBeGreaterThan(0);
    expect(c['request: replayed signature'] ?? 0).toBeGreaterThan(0);
    expect(c['request: unread body'] ?? 0).toBeGreaterThan(0);
    expect(c['plaintexts searched'] ?? 0).toBeGreaterThan(0);
    for (const status of Object.keys(result.statuses)) expect(Number(status)).toBeLessThan(500);
  }, 240_000);
});
