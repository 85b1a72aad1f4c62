/// <reference types="node" />
// First: the node:crypto backend, registered and made the default as the package's Node entry does.
import './node-default.js';
/**
 * `npm run bench`: every workload for ours under every crypto backend preset, the floor (bare
 * primitives) on each preset, and the peers, in one process with interleaved rounds; prints the
 * machine, Node version, date, the results table with the targets beside each figure
 * (met/missed), and a summary of the targets.
 *
 *   npm run bench -- [--rounds N] [--sample-ms MS] [--presets baseline,fast] [--workloads one-way-1k,...]
 *                    [--peers libsignal-client,...|none] [--floors preset,...|none]
 *                    [--iterations N] [--json out.json] [--quiet]
 *
 * BENCH_ROUNDS and BENCH_SAMPLE_MS set the defaults of --rounds and --sample-ms.
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import v8 from 'node:v8';
import vm from 'node:vm';
import type { CryptoPreset } from '../src/crypto/index.js';
import { PEER_IDS, peerContenders, type PeerId } from './peers/index.js';
import { defaultPreset, floorContenders, formatResults, ourContenders, PRESETS, resultsJson, runBench } from './runner.js';
import { evaluateTargets, targetSummary } from './targets.js';
import { WORKLOADS } from './workloads.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string' },
    'sample-ms': { type: 'string' },
    presets: { type: 'string' },
    workloads: { type: 'string' },
    peers: { type: 'string' },
    floors: { type: 'string' },
    iterations: { type: 'string' },
    json: { type: 'string' },
    quiet: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  console.log(
    [
      'usage: npm run bench -- [options]',
      '  --rounds N          measured rounds (default 7, or BENCH_ROUNDS)',
      '  --sample-ms MS      target duration of one sample (default 250, or BENCH_SAMPLE_MS)',
      `  --presets LIST      crypto presets, comma-separated (default ${PRESETS.join(',')})`,
      `  --workloads LIST    workloads, comma-separated (default ${WORKLOADS.map((w) => w.id).join(',')})`,
      `  --peers LIST        peers, comma-separated, or none (default ${PEER_IDS.join(',')})`,
      '  --floors LIST       presets to measure the floor on, or none (default: the --presets)',
      '  --iterations N      fixed iterations per sample instead of calibrating',
      '  --json FILE         also write the results as JSON',
      '  --quiet             no progress lines',
    ].join('\n'),
  );
  process.exit(0);
}

function positiveInt(text: string | undefined, fallback: number, what: string): number {
  if (text === undefined || text === '') return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${what} must be a positive integer, got ${JSON.stringify(text)}`);
  return n;
}

function list<T extends string>(text: string | undefined, all: readonly T[], what: string): T[] {
  if (!text) return [...all];
  if (text === 'none') return [];
  const picked = text.split(',').map((s) => s.trim()) as T[];
  for (const p of picked) if (!all.includes(p)) throw new Error(`unknown ${what} ${JSON.stringify(p)} (known: ${all.join(', ')})`);
  return picked;
}

const rounds = positiveInt(values.rounds ?? process.env.BENCH_ROUNDS, 7, '--rounds');
const sampleMs = positiveInt(values['sample-ms'] ?? process.env.BENCH_SAMPLE_MS, 250, '--sample-ms');
const iterations = values.iterations === undefined ? undefined : positiveInt(values.iterations, 1, '--iterations');
const presets = list<CryptoPreset>(values.presets, PRESETS, 'preset');
const workloadIds = list(values.workloads, WORKLOADS.map((w) => w.id), 'workload');
const workloads = WORKLOADS.filter((w) => workloadIds.includes(w.id));
const peerIds = list<PeerId>(values.peers, PEER_IDS, 'peer');
const floorPresets = values.floors === undefined ? presets : list<CryptoPreset>(values.floors, PRESETS, 'floor preset');

// A full collection before every sample (runner.ts calls gc() when it exists), so that one
// contender's garbage is not collected on another's time.
v8.setFlagsFromString('--expose-gc');
(globalThis as { gc?: () => void }).gc ??= vm.runInNewContext('gc') as () => void;

const cpus = os.cpus();
const machine = [
  `machine: ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${cpus.length} cores (${os.availableParallelism()} available), ${Math.round(os.totalmem() / 2 ** 30)} GiB`,
  `system:  ${os.type()} ${os.release()} ${process.arch}, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} at start`,
  `runtime: Node ${process.version} (V8 ${process.versions.v8})`,
  `date:    ${new Date().toISOString()}`,
];

console.log('agentmesh-e2e benchmark');
for (const line of machine) console.log(line);
console.log(`method:  ${rounds} interleaved rounds, ~${sampleMs} ms per sample; median [min–max] of per-round rates; ratios of medians`);
console.log('');

const ours = await ourContenders(presets);
// The runtime's default first.
ours.sort((a, b) => Number(b.id === defaultPreset()) - Number(a.id === defaultPreset()));
const peers = await peerContenders(peerIds, (id, reason) => console.log(`peer ${id} left out: ${reason}`));
const result = await runBench({
  contenders: [...ours, ...(await floorContenders(floorPresets)), ...peers],
  workloads,
  rounds,
  sampleMs,
  iterations,
  referenceId: presets.includes(defaultPreset()) ? defaultPreset() : presets[0]!,
  onProgress: values.quiet ? undefined : (m) => console.error(`  ${m}`),
});

const checks = evaluateTargets(result);
console.log(formatResults(result, checks));
console.log('');
console.log(targetSummary(checks));
console.log('');
console.log(`load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} at end; ${result.seconds.toFixed(0)} s in all`);

if (values.json) {
  writeFileSync(values.json, JSON.stringify({ machine, node: process.version, date: new Date().toISOString(), ...(resultsJson(result) as object) }, null, 2));
  console.log(`results written to ${values.json}`);
}
