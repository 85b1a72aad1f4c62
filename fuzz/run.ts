/// <reference types="node" />
/**
 * `npm run fuzz`: the long adversarial run, with its seed recorded.
 *
 *   npm run fuzz                                  # everything, a fresh seed (printed first)
 *   npm run fuzz -- --seed 1234                   # replay a run
 *   npm run fuzz -- --only parsers --parsers 1000000
 *   npm run fuzz -- --parsers 100000 --ratchet 100000 --worker 10000 --restarts 4 --agent 10000
 *   npm run fuzz -- --only parsers --seed 1234 --start 5120 --parsers 1   # replay one input
 *
 * Parts: `parsers` (fuzz/parsers.ts, in a worker thread with a per-input watchdog), `ratchet`
 * (fuzz/ratchet.ts), `crash` (fuzz/crash.ts: every write point of a conversation, memory and
 * IndexedDB stores), `worker` (fuzz/worker.ts: a local Worker, killed and restarted mid-burst,
 * with fuzz/relay-abuse.ts: victims' connections, inboxes and the state directory under strangers' abuse),
 * `agent` (fuzz/agent.ts: MeshAgents that keep talking while fresh DIDs send them abuse frames).
 * Prints a summary and writes a JSON report (`--report <file>`; default in the temp directory).
 * Exits 1 when anything failed. On a shared machine, run it under `nice -n 19`.
 */
import { writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import type { ParserFailure, ParserFuzzResult } from './parsers.js';
import { randomSeed } from './rng.js';

const { values } = parseArgs({
  options: {
    seed: { type: 'string' },
    only: { type: 'string' },
    parsers: { type: 'string', default: '100000' },
    start: { type: 'string', default: '0' },
    ratchet: { type: 'string', default: '100000' },
    worker: { type: 'string', default: '10000' },
    agent: { type: 'string', default: '10000' },
    restarts: { type: 'string', default: '4' },
    'time-box': { type: 'string', default: '1000' },
    hang: { type: 'string', default: '15000' },
    report: { type: 'string' },
    quiet: { type: 'boolean', default: false },
  },
});

const seed = values.seed !== undefined ? Number(values.seed) >>> 0 : randomSeed();
const parts = (values.only ?? 'parsers,ratchet,crash,worker,agent').split(',').map((p) => p.trim());
const started = new Date();
const log = (line: string) => console.log(`[${((Date.now() - started.getTime()) / 1000).toFixed(0).padStart(5)} s] ${line}`);
const report: Record<string, unknown> = { seed, started: started.toISOString(), node: process.version, cpus: cpus().length, argv: process.argv.slice(2) };
let failed = 0;

log(`seed ${seed} (replay with --seed ${seed}); parts: ${parts.join(', ')}`);

// ── parsers ──────────────────────────────────────────────────────────────────────────────────────

/** Runs parser inputs [start, start + count) in worker threads; an input stuck past `hangMs` is a hang. */
async function parsers(start: number, count: number, timeBoxMs: number, hangMs: number): Promise<ParserFuzzResult & { hangs: number }> {
  const progress = new Int32Array(new SharedArrayBuffer(8));
  const stats: ParserFuzzResult['stats'] = {};
  const failures: ParserFailure[] = [];
  let hangs = 0;
  const merge = (r: ParserFuzzResult) => {
    for (const [name, s] of Object.entries(r.stats)) {
      const t = (stats[name] ??= { inputs: 0, accepted: 0, refused: {}, slowestMs: 0 });
      t.inputs += s.inputs;
      t.accepted += s.accepted;
      t.slowestMs = Math.max(t.slowestMs, Math.round(s.slowestMs));
      for (const [k, v] of Object.entries(s.refused)) t.refused[k] = (t.refused[k] ?? 0) + v;
    }
    failures.push(...r.failures);
  };
  const spawn = async () => {
    // The thread registers tsx before it loads TypeScript (an entry file ending in .ts would be
    // loaded before any --import hook runs).
    const entry = new URL('./parser-thread.ts', import.meta.url).href;
    const boot = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); })`;
    const w = new Worker(boot, { eval: true, workerData: { seed, timeBoxMs, progress } });
    await new Promise<void>((resolve, reject) => {
      w.once('message', () => resolve());
      w.once('error', reject);
    });
    return w;
  };
  let worker = await spawn();
  const CHUNK = 250;
  const end = start + count;
  let next = start;
  let lastLog = Date.now();
  /** The thread's answer to a job, or the index it was stuck on for longer than `hangMs`. */
  const outcomeOf = () =>
    new Promise<{ result: ParserFuzzResult } | { hang: number }>((resolve) => {
      let seen = Atomics.load(progress, 1);
      let since = Date.now();
      const timer = setInterval(() => {
        const beat = Atomics.load(progress, 1);
        if (beat !== seen) {
          seen = beat;
          since = Date.now();
        } else if (Date.now() - since > hangMs) {
          clearInterval(timer);
          resolve({ hang: Atomics.load(progress, 0) });
        }
      }, 100);
      worker.once('message', (result: ParserFuzzResult) => {
        clearInterval(timer);
        resolve({ result });
      });
    });
  while (next < end) {
    const job = { start: next, count: Math.min(CHUNK, end - next) };
    Atomics.store(progress, 0, job.start);
    worker.postMessage(job);
    const outcome = await outcomeOf();
    if ('result' in outcome) {
      merge(outcome.result);
      next += job.count;
    } else {
      // Stuck: the input is recorded, the thread replaced, and the chunk's earlier inputs run again.
      hangs += 1;
      failures.push({ seed, index: outcome.hang, target: '?', strategy: '?', kind: 'slow', message: `no result within ${hangMs} ms: the thread was terminated`, input: '', ms: hangMs });
      log(`HANG at input ${outcome.hang} (replay: --only parsers --seed ${seed} --start ${outcome.hang} --parsers 1)`);
      await worker.terminate();
      worker = await spawn();
      if (outcome.hang > job.start) {
        worker.postMessage({ start: job.start, count: outcome.hang - job.start });
        const redo = await outcomeOf();
        if ('result' in redo) merge(redo.result);
      }
      next = outcome.hang + 1;
    }
    if (!values.quiet && Date.now() - lastLog > 15_000) {
      lastLog = Date.now();
      log(`parsers: ${next - start}/${count} inputs, ${failures.length} failures`);
    }
  }
  await worker.terminate();
  return { seed, start, count, stats, failures, hangs };
}

// ── the run ────────────────────────────────────────────────────────────────────────────────────

if (parts.includes('parsers')) {
  const count = Number(values.parsers);
  log(`parsers: ${count} inputs from index ${values.start}, time box ${values['time-box']} ms, hang after ${values.hang} ms`);
  const r = await parsers(Number(values.start), count, Number(values['time-box']), Number(values.hang));
  const inputs = Object.values(r.stats).reduce((n, s) => n + s.inputs, 0);
  report.parsers = { inputs, ...r };
  failed += r.failures.length;
  log(`parsers: ${inputs} inputs over ${Object.keys(r.stats).length} parsers, ${r.failures.length} failures, ${r.hangs} hangs`);
  for (const [name, s] of Object.entries(r.stats)) {
    log(`  ${name.padEnd(20)} ${String(s.inputs).padStart(7)} inputs, ${String(s.accepted).padStart(6)} accepted, refused ${JSON.stringify(s.refused)}, slowest ${s.slowestMs} ms`);
  }
  for (const f of r.failures.slice(0, 20)) log(`  FAIL ${f.target} #${f.index} (${f.kind}, ${f.strategy}): ${f.message} — ${f.input}`);
}

if (parts.includes('ratchet')) {
  const { runRatchetFuzz } = await import('./ratchet.js');
  const steps = Number(values.ratchet);
  log(`ratchet: ${steps} steps`);
  let lastLog = Date.now();
  const r = await runRatchetFuzz({
    seed,
    steps,
    maxFailures: 20,
    onConversation: ({ totalSteps }) => {
      if (!values.quiet && Date.now() - lastLog > 15_000) {
        lastLog = Date.now();
        log(`ratchet: ${totalSteps}/${steps} steps`);
      }
    },
  });
  report.ratchet = r;
  failed += r.failures.length;
  log(`ratchet: ${r.steps} steps in ${r.conversations} conversations, ${r.failures.length} failures`);
  log(`  genuine delivered ${(r.counts['genuine delivered'] ?? 0) + (r.counts['genuine delivered (through accept)'] ?? 0)}, sent ${r.counts.send ?? 0}, dropped ${r.counts.dropped ?? 0}, reloads ${r.counts.reload ?? 0}`);
  const bad = Object.entries(r.counts).filter(([k]) => k.startsWith('bad'));
  log(`  bad inputs refused: ${bad.reduce((n, [, v]) => n + v, 0)} (${bad.map(([k, v]) => `${k.replace(/^bad:? ?/, '')} ${v}`).join(', ')})`);
  for (const f of r.failures) log(`  FAIL conversation ${f.conversation} (${f.layer}) step ${f.step}: ${f.message.slice(0, 400)}`);
}

if (parts.includes('crash')) {
  // IndexedDB for Node (a devDependency), as the tests use it.
  const fakeIndexedDb = 'fake-indexeddb/auto';
  await import(fakeIndexedDb);
  const { crashSweep, indexedDbKind, memoryKind } = await import('./crash.js');
  for (const kind of [await memoryKind(), await indexedDbKind()]) {
    const r = await crashSweep(kind, { seed: (seed % 10) + 1 });
    (report.crash ??= []) as unknown[];
    (report.crash as unknown[]).push(r);
    failed += r.failures.length;
    log(`crash: ${r.store}: ${r.writes} write points × 2 modes = ${r.runs} runs, ${r.failures.length} failures; ${r.lostAfterCommit} messages lost to crashes right after a receive's commit (documented)`);
    for (const f of r.failures.slice(0, 5)) log(`  FAIL write ${f.failAt} (${f.mode}): ${f.message.slice(0, 400)}`);
  }
}

if (parts.includes('worker')) {
  const { runWorkerFuzz } = await import('./worker.js');
  const requests = Number(values.worker);
  const restarts = Number(values.restarts);
  log(`worker: ${requests} requests, ${restarts} restarts (SIGKILL mid-burst)`);
  const r = await runWorkerFuzz({ seed, requests, restarts, log: (l) => (values.quiet ? undefined : l.startsWith('[wrangler]') ? undefined : log(`  ${l}`)) });
  report.worker = r;
  failed += r.failures.length;
  log(`worker: ${r.requests} requests, ${r.frames} socket frames, ${r.upgrades} upgrades, ${r.restarts} restarts, ${r.failures.length} failures; answers p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms, slowest ${r.slowestMs} ms`);
  log(`  relay abuse: ${r.victims} victims, ${r.attackers} attacker DIDs, ${r.ghosts} unregistered DIDs; victims denied service: ${r.denials}; worst victim connect ${r.worstConnectMs} ms, worst peer probe ${r.worstProbeMs} ms`);
  log(`  agent objects: ${r.objects.touched} touched, ${r.objects.withTables} with tables, ${r.objects.registered} registered`);
  log(`  statuses ${JSON.stringify(r.statuses)}`);
  log(`  ${Object.entries(r.counts).map(([k, v]) => `${k}: ${v}`).join('; ')}`);
  for (const f of r.failures.slice(0, 20)) log(`  FAIL request ${f.request} (${f.kind}): ${f.message.slice(0, 300)}`);
}

if (parts.includes('agent')) {
  const { runAgentFuzz } = await import('./agent.js');
  const { startLocalWorker } = await import('../scripts/local-worker.mjs');
  const { WebSocket } = await import('undici');
  const frames = Number(values.agent);
  log(`agent: ${frames} abuse frames from fresh DIDs at 3 victims talking with their peers`);
  const local = await startLocalWorker();
  try {
    const r = await runAgentFuzz({
      seed,
      url: local.url,
      frames,
      webSocket: (url) => new WebSocket(url) as unknown as import('../src/net/relay-client.js').WebSocketLike,
      log: (l) => (values.quiet ? undefined : log(`  ${l}`)),
    });
    report.agent = r;
    failed += r.failures.length;
    log(`agent: ${r.frames} frames from ${r.attackers} DIDs, ${r.messages} victim messages, ${r.failures.length} failures`);
    log(`  latency before → worst during the attack: ${r.latency.map((l) => `${l.normalMs} → ${l.worstMs} ms`).join(', ')}`);
    log(`  ${Object.entries(r.counts).map(([k, v]) => `${k}: ${v}`).join('; ')}`);
    for (const f of r.failures.slice(0, 20)) log(`  FAIL (${f.kind}): ${f.message.slice(0, 300)}`);
  } finally {
    await local.stop();
  }
}

report.finished = new Date().toISOString();
report.failures = failed;
const file = values.report ?? join(tmpdir(), `agentmesh-fuzz-${seed}-${started.toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify(report, null, 2));
log(`${failed === 0 ? 'no failures' : `${failed} FAILURES`}; seed ${seed}; report ${file}`);
process.exit(failed === 0 ? 0 : 1);
