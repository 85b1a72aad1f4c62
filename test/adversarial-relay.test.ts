/**
 * The relay's availability under abuse, through a real `wrangler dev`: a short run of
 * `npm run fuzz`'s Worker part with its relay abuse turned up (fuzz/relay-abuse.ts, issue 14
 * classes 1, 5 and 6). While idle unauthenticated sockets are held and reopened against the
 * victims' endpoints, signed upgrades and `connect` frames are replayed and forged, fresh DIDs fill
 * the victims' strangers' pool with small and large frames, heartbeats flood the relay and
 * requests spray unregistered DIDs: every victim connects on its first try and is served, every
 * established peer's frame is accepted and delivered, and unregistered DIDs leave no tables.
 *
 * FUZZ_SEED=<n> runs another seed; FUZZ_RELAY_REQUESTS=<n> a longer run.
 */
import { describe, expect, it } from 'vitest';
import { startLocalWorker } from '../scripts/local-worker.mjs';
import { runWorkerFuzz } from '../fuzz/worker.js';

const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env ?? {};
const SEED = Number.parseInt(env.FUZZ_SEED ?? '', 10) || 20261207;
const REQUESTS = Number.parseInt(env.FUZZ_RELAY_REQUESTS ?? '', 10) || 400;

describe('the relay under abuse from strangers', () => {
  it(`seed ${SEED}, ${REQUESTS} requests: no victim denied service, no forged upgrade accepted, no state for unregistered DIDs`, async () => {
    const result = await runWorkerFuzz({ seed: SEED, requests: REQUESTS, restarts: 0, agents: 5, victims: 2, abuseWeight: 6, idleSockets: 10, launch: startLocalWorker });
    expect(result.failures, JSON.stringify(result.failures, null, 2)).toEqual([]);
    expect(result.denials).toBe(0);
    const c = result.counts;
    expect(c['victim connects'] ?? 0).toBeGreaterThan(0);
    expect(c['peer probes delivered']).toBe(c['victim connects']);
    expect(c['idle unauthenticated socket opened'] ?? 0).toBeGreaterThan(0);
    expect(c['forged upgrade refused: replayed_signature'] ?? 0).toBeGreaterThan(0);
    expect(c['stranger frames stored'] ?? 0).toBeGreaterThan(0);
    expect(result.ghosts).toBeGreaterThan(0);
    // Only registered agents' objects hold tables, however many unregistered DIDs were asked about.
    expect(result.objects.withTables).toBe(result.objects.registered);
    expect(result.objects.touched).toBeGreaterThan(result.objects.registered);
    for (const status of Object.keys(result.statuses)) expect(Number(status)).toBeLessThan(500);
  }, 180_000);
});
