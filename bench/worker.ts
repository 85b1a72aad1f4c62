/// <reference types="node" />
/**
 * `npm run bench:worker`: bundle fetches (each claiming a one-time pre-key) from N concurrent
 * clients against the local Worker (`wrangler dev`, on-disk state). Prints requests/s, p50/p99
 * latency, errors, and whether any one-time pre-key was handed out twice.
 *
 *   npm run bench:worker -- [--clients 20] [--keys 1000] [--requests 1200]
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { startLocalWorker } from '../scripts/local-worker.mjs';
import { AgentIdentity } from '../src/identity/agent-identity.js';
import { uploadFromKeyManager } from '../src/net/prekey-upload.js';
import { RegistryClient } from '../src/net/registry-client.js';
import { X3DHKeyManager } from '../src/x3dh/key-manager.js';
import { median } from './stats.js';

/** The q-quantile of sorted values (nearest rank). */
function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? NaN;
}

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '20' },
    keys: { type: 'string', default: '1000' },
    requests: { type: 'string', default: '1200' },
  },
});
const clients = Number(values.clients);
const keys = Number(values.keys);
const requests = Number(values.requests);

const worker = await startLocalWorker({
  vars: {
    RATE_LIMIT_PER_MINUTE: '1000000',
    PREKEY_CLAIMS_PER_MINUTE: '1000000',
    MAX_ONE_TIME_PRE_KEYS: String(Math.max(keys, 200)),
    MAX_ONE_TIME_PRE_KEYS_PER_UPLOAD: '1000',
  },
});
try {
  const victim = await AgentIdentity.generate();
  const victimKeys = await X3DHKeyManager.fromEd25519Keys(victim.secretKey, victim.publicKey);
  const victimRegistry = new RegistryClient({ baseUrl: worker.url, identity: victim });
  await victimRegistry.register();
  await victimKeys.generateSignedPreKey();
  for (let uploaded = 0; uploaded < keys; uploaded += 1000) {
    const batch = await victimKeys.generateOneTimePreKeys(Math.min(1000, keys - uploaded));
    await victimRegistry.uploadPreKeys(uploadFromKeyManager(victimKeys, batch));
  }

  const callers = await Promise.all(
    Array.from({ length: clients }, async () => {
      const identity = await AgentIdentity.generate();
      const registry = new RegistryClient({ baseUrl: worker.url, identity });
      await registry.register();
      return registry;
    }),
  );

  const latencies: number[] = [];
  const claimed = new Map<number, number>();
  let nulls = 0;
  let errors = 0;
  let next = 0;
  const started = performance.now();
  await Promise.all(
    callers.map(async (registry) => {
      while (next < requests) {
        next += 1;
        const t0 = performance.now();
        try {
          const bundle = await registry.fetchBundle(victim.did);
          latencies.push(performance.now() - t0);
          const id = bundle?.oneTimePreKeyId ?? null;
          if (id === null) nulls += 1;
          else claimed.set(id, (claimed.get(id) ?? 0) + 1);
        } catch {
          errors += 1;
        }
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const twice = [...claimed.values()].filter((n) => n > 1).length;
  latencies.sort((a, b) => a - b);
  const ms = (x: number) => `${x.toFixed(1)} ms`;
  console.log(`machine: ${os.cpus()[0]?.model ?? 'unknown'}, ${os.cpus().length} cores · Node ${process.version} · ${new Date().toISOString()}`);
  console.log(`local Worker (wrangler dev) · ${clients} concurrent clients · ${keys} one-time pre-keys · ${requests} bundle fetches\n`);
  console.log(`requests/s          ${(requests / seconds).toFixed(0)}`);
  console.log(`latency p50 / p99   ${ms(median(latencies))} / ${ms(quantile(latencies, 0.99))}`);
  console.log(`one-time keys       ${claimed.size} handed out, ${nulls} bundles without one`);
  const ok = (cond: boolean) => (cond ? 'met' : 'MISSED');
  console.log(`errors              ${errors}   (target 0: ${ok(errors === 0)})`);
  console.log(`keys handed twice   ${twice}   (target 0: ${ok(twice === 0)})`);
  console.log(`every key claimed   ${ok(claimed.size === Math.min(keys, requests) && nulls === Math.max(0, requests - keys))}`);
  process.exitCode = errors === 0 && twice === 0 ? 0 : 1;
} finally {
  await worker.stop();
}
