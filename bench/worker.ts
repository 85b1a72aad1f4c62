/// <reference types="node" />
/**
 * `npm run bench:worker`: against the local Worker (`wrangler dev`, on-disk state),
 *
 * 1. bundle fetches (each claiming a one-time pre-key) from N concurrent clients: requests/s,
 *    p50/p99 latency, errors, and whether any one-time pre-key was handed out twice;
 * 2. a connect with a full inbox (`--inbox-frames` frames of `--frame-kib` KiB, about 160 MB by
 *    default, with the inbox caps raised to allow it): how much the workerd process grows while
 *    the backlog is delivered in pages, first with the client acknowledging nothing for a few
 *    seconds, then acknowledging each frame. Linux only (it reads /proc); not a timed test.
 *
 *   npm run bench:worker -- [--clients 20] [--keys 1000] [--requests 1200] [--inbox-frames 800] [--frame-kib 200]
 */
import { readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { WebSocket } from 'undici';
import { toBase64Url } from '../src/encoding.js';
import { createFrame } from '../src/net/frames.js';
import { RequestSigner, relayPath } from '../src/net/signing.js';
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
    'inbox-frames': { type: 'string', default: '800' },
    'frame-kib': { type: 'string', default: '200' },
  },
});
const clients = Number(values.clients);
const keys = Number(values.keys);
const requests = Number(values.requests);
const inboxFrames = Number(values['inbox-frames']);
const frameKib = Number(values['frame-kib']);
const GIB = String(1024 * 1024 * 1024);
const MANY = '100000';

const worker = await startLocalWorker({
  vars: {
    RATE_LIMIT_PER_MINUTE: '1000000',
    PREKEY_CLAIMS_PER_MINUTE: '1000000',
    MAX_ONE_TIME_PRE_KEYS: String(Math.max(keys, 200)),
    MAX_ONE_TIME_PRE_KEYS_PER_UPLOAD: '1000',
    // Room for the full-inbox measurement: the default caps (32 MiB) would stop the filling early.
    INBOX_MAX_PER_RECIPIENT: MANY,
    INBOX_MAX_PER_SENDER: MANY,
    INBOX_MAX_PER_STRANGER: MANY,
    INBOX_MAX_FROM_STRANGERS: MANY,
    INBOX_MAX_BYTES_PER_RECIPIENT: GIB,
    INBOX_MAX_BYTES_PER_SENDER: GIB,
    INBOX_MAX_BYTES_PER_STRANGER: GIB,
    INBOX_MAX_BYTES_FROM_STRANGERS: GIB,
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
  const inboxOk = await fullInboxConnect(worker);
  process.exitCode = errors === 0 && twice === 0 && inboxOk ? 0 : 1;
} finally {
  await worker.stop();
}

/** Resident memory (bytes) of the workerd processes under `rootPid`, summed. */
function workerdRss(rootPid: number): number {
  const children = new Map<number, number[]>();
  let rss = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // Gone meanwhile.
    }
  }
  const walk = (pid: number): void => {
    for (const child of children.get(pid) ?? []) {
      try {
        const status = readFileSync(`/proc/${child}/status`, 'utf8');
        if (/^Name:\s*workerd/m.test(status)) rss += Number(/^VmRSS:\s*(\d+)/m.exec(status)?.[1] ?? 0) * 1024;
      } catch {
        // Gone meanwhile.
      }
      walk(child);
    }
  };
  walk(rootPid);
  return rss;
}

/** Fills one inbox, connects, and reports how much workerd grows while the backlog goes out. */
async function fullInboxConnect(w: { url: string; pid?: number }): Promise<boolean> {
  if (!w.pid || os.platform() !== 'linux') {
    console.log('\nfull-inbox connect: skipped (needs Linux /proc)');
    return true;
  }
  const victim = await AgentIdentity.generate();
  const sender = await AgentIdentity.generate();
  await new RegistryClient({ baseUrl: w.url, identity: victim }).register();
  const senderRegistry = new RegistryClient({ baseUrl: w.url, identity: sender });
  await senderRegistry.register();
  const ciphertext = toBase64Url(new Uint8Array(Math.floor(frameKib * 1024 * 0.75)).fill(7));
  let stored = 0;
  let n = 0;
  const fillStarted = performance.now();
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (n < inboxFrames) {
        const i = n++;
        const frame = createFrame('message', sender.did, victim.did, { header: { dh: toBase64Url(new Uint8Array(32).fill(9)), pn: 0, n: i }, ciphertext });
        await senderRegistry.postFrame(frame as never);
        stored += 1;
      }
    }),
  );
  const frameBytes = ciphertext.length + 300;
  const inboxMb = (stored * frameBytes) / 1e6;
  const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`;
  await new Promise((r) => setTimeout(r, 2000));
  const baseline = workerdRss(w.pid);
  let peak = baseline;
  const sample = setInterval(() => (peak = Math.max(peak, workerdRss(w.pid!))), 50);
  const auth = await new RequestSigner(victim).authorization('GET', relayPath(victim.did));
  const ws = new WebSocket(`${w.url.replace(/^http/, 'ws')}${relayPath(victim.did)}?auth=${encodeURIComponent(auth)}`);
  const received: { from: string; id: string }[] = [];
  let acking = false;
  const ack = (f: { from: string; id: string }) => ws.send(JSON.stringify(createFrame('ack', victim.did, f.from, { ack_id: f.id })));
  const done = new Promise<void>((resolve, reject) => {
    ws.addEventListener('message', (event) => {
      const frame = JSON.parse(String(event.data)) as { type: string; from: string; id: string };
      if (frame.type !== 'message') return;
      received.push(frame);
      if (acking) ack(frame);
      if (received.length === stored) resolve();
    });
    ws.addEventListener('close', () => reject(new Error('the relay closed the socket')));
  });
  const connectStarted = performance.now();
  // Phase 1: the client acknowledges nothing for 3 s (less than the 10 s hold): one page arrives.
  await new Promise((r) => setTimeout(r, 3000));
  const peakUnacked = peak;
  const firstPage = received.length;
  // Phase 2: acknowledge what arrived, then every frame as it comes.
  acking = true;
  for (const f of received) ack(f);
  await done;
  const seconds = (performance.now() - connectStarted) / 1000;
  clearInterval(sample);
  ws.close();
  console.log(`\nfull-inbox connect · ${stored} frames of ${frameKib} KiB (${inboxMb.toFixed(0)} MB waiting; filled in ${((performance.now() - fillStarted) / 1000 - seconds).toFixed(0)} s)\n`);
  console.log(`workerd RSS before connect      ${mb(baseline)}`);
  console.log(`growth, no acks for 3 s         ${mb(peakUnacked - baseline)}   (${firstPage} frames sent: one page)`);
  console.log(`growth, whole backlog acked     ${mb(peak - baseline)}   (${received.length} frames in ${seconds.toFixed(1)} s)`);
  const bounded = peak - baseline < inboxMb * 1e6 / 4;
  console.log(`memory bounded by the page      ${bounded ? 'met' : 'MISSED'} (growth below a quarter of the inbox)`);
  return bounded && received.length === stored;
}
