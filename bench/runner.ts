/**
 * Rounds, calibration and the results table. Runtime-neutral: `run.ts` is the Node entry point;
 * a browser entry can drive the same runner.
 *
 * Method: every (workload, contender) pair is first calibrated (warm-up runs, then an iteration
 * count that takes about `sampleMs`). Then `rounds` rounds run; in each round every workload runs
 * once for every contender, the contenders' order rotating from round to round, so that drift in
 * machine load spreads over all of them. Each sample is a rate (operations / second); the table
 * shows the median with min–max and each contender's ratio of medians to the reference contender.
 */
import {
  CRYPTO_PRESETS,
  createCryptoProvider,
  defaultCryptoPreset,
  getDefaultCryptoProvider,
  webCryptoCurvesSupported,
  type CryptoPreset,
  type CryptoProviderOptions,
} from '../src/crypto/index.js';
import { floorContender } from './floor.js';
import { formatRate, formatRatio, formatTable, summarize, type Summary } from './stats.js';
import { evaluateTargets, targetCell, type TargetCheck } from './targets.js';
import { WORKLOADS, type WorkloadId, type WorkloadResult, type WorkloadSpec } from './workloads.js';

/** Something measured: ours with one crypto backend, a floor, or a peer implementation. */
export interface Contender {
  readonly id: string;
  readonly label: string;
  /** e.g. the provider's backends; printed beside the label. */
  readonly detail?: string;
  /** The workloads this contender implements; a missing one shows as "—". */
  readonly workloads: Partial<Record<WorkloadId, (iterations: number) => Promise<WorkloadResult>>>;
}

/**
 * Every preset this runtime has: the static ones, plus `node` where the Node backend is loaded
 * (bench/run.ts loads it first, as the package's Node entry point does).
 */
export const PRESETS = Object.keys(CRYPTO_PRESETS) as CryptoPreset[];

function describePreset(preset: CryptoPreset, nativeCurves: boolean): string {
  const { curves, hashes, aead } = (CRYPTO_PRESETS as Record<string, CryptoProviderOptions>)[preset]!;
  const nameOf = (b: unknown) => (typeof b === 'string' ? b : (b as { name: string }).name.replace(/-.*/, ''));
  const curvesUsed = curves === 'auto' ? `${nativeCurves ? 'webcrypto' : 'noble'} (auto)` : nameOf(curves);
  return `curves ${curvesUsed}, hashes ${nameOf(hashes)}, aead ${aead ? nameOf(aead) : 'noble'}`;
}

/** Ours, once per crypto backend preset. The preset the SDK uses by default is marked. */
export async function ourContenders(presets: readonly CryptoPreset[] = PRESETS): Promise<Contender[]> {
  const defaultName = getDefaultCryptoProvider().name;
  const nativeCurves = await webCryptoCurvesSupported();
  return presets.map((preset) => {
    const crypto = createCryptoProvider(preset);
    const workloads: Contender['workloads'] = {};
    for (const w of WORKLOADS) workloads[w.id] = (iterations) => w.run(crypto, iterations);
    return {
      id: preset,
      label: crypto.name === defaultName ? `ours: ${preset} (default)` : `ours: ${preset}`,
      detail: describePreset(preset, nativeCurves),
      workloads,
    };
  });
}

/** The floor (bare primitives, see floor.ts) on each preset's provider. */
export async function floorContenders(presets: readonly CryptoPreset[] = PRESETS): Promise<Contender[]> {
  const nativeCurves = await webCryptoCurvesSupported();
  return presets.map((preset) => floorContender(preset, createCryptoProvider(preset), describePreset(preset, nativeCurves)));
}

/** The preset ours uses by default in this runtime. */
export function defaultPreset(): CryptoPreset {
  return defaultCryptoPreset();
}

export interface BenchOptions {
  contenders: readonly Contender[];
  workloads?: readonly WorkloadSpec[];
  /** Measured rounds (default 7). */
  rounds?: number;
  /** Target duration of one sample (default 250 ms). */
  sampleMs?: number;
  /** Fixed iterations per sample instead of calibrating (smoke runs). */
  iterations?: number;
  /** Contender whose medians are the 1.00× reference (default: ours with this runtime's default preset). */
  referenceId?: string;
  /** Our contender the targets are checked for (default: the reference). */
  defaultId?: string;
  onProgress?: (message: string) => void;
}

export interface Measurement {
  readonly workload: WorkloadSpec;
  readonly contender: Contender;
  readonly iterations: number;
  /** Operations per second, one per round. */
  readonly samples: number[];
  summary?: Summary;
}

export interface BenchResult {
  readonly rounds: number;
  readonly sampleMs: number;
  readonly referenceId: string;
  readonly defaultId: string;
  readonly measurements: Measurement[];
  readonly seconds: number;
}

const MAX_ITERATIONS = 1_000_000;

async function sample(run: (iterations: number) => Promise<WorkloadResult>, iterations: number, scale = 1): Promise<number> {
  (globalThis as { gc?: () => void }).gc?.();
  const r = await run(iterations);
  if (r.operations !== iterations || !(r.seconds >= 0)) {
    throw new Error(`workload reported ${r.operations} operations in ${r.seconds} s for ${iterations} iterations`);
  }
  // A run below the clock's resolution (browsers coarsen performance.now()) reads as infinitely
  // fast; calibration then grows the iteration count until runs take measurable time.
  return r.seconds === 0 ? Number.POSITIVE_INFINITY : (r.operations / r.seconds) * scale;
}

/** Warm-up, then the iteration count whose run takes about `sampleMs`. */
async function calibrate(run: (iterations: number) => Promise<WorkloadResult>, sampleMs: number): Promise<number> {
  let iterations = 1;
  let rate = 0;
  // Grow until a run takes at least a quarter of the target (this also warms the JIT up).
  for (;;) {
    rate = await sample(run, iterations);
    const ms = (iterations / rate) * 1000;
    if (ms >= sampleMs / 4 || iterations >= MAX_ITERATIONS) break;
    iterations = Math.min(MAX_ITERATIONS, iterations * (ms < sampleMs / 40 ? 8 : 2));
  }
  // One more warm run at the target size, whose rate sets the final count.
  iterations = Math.max(1, Math.min(MAX_ITERATIONS, Math.round((rate * sampleMs) / 1000)));
  rate = await sample(run, iterations);
  return Math.max(1, Math.min(MAX_ITERATIONS, Math.round((rate * sampleMs) / 1000)));
}

export async function runBench(options: BenchOptions): Promise<BenchResult> {
  const workloads = options.workloads ?? WORKLOADS;
  const rounds = options.rounds ?? 7;
  const sampleMs = options.sampleMs ?? 250;
  const referenceId = options.referenceId ?? defaultCryptoPreset();
  const log = options.onProgress ?? (() => {});
  const started = performance.now();

  const measurements: Measurement[] = [];
  for (const workload of workloads) {
    for (const contender of options.contenders) {
      const run = contender.workloads[workload.id];
      if (!run) continue;
      const iterations = options.iterations ?? (await calibrate(run, sampleMs));
      log(`calibrated ${workload.id} / ${contender.id}: ${iterations} iterations per sample`);
      measurements.push({ workload, contender, iterations, samples: [] });
    }
  }

  for (let round = 0; round < rounds; round++) {
    for (const workload of workloads) {
      const group = measurements.filter((m) => m.workload === workload);
      for (let k = 0; k < group.length; k++) {
        const m = group[(k + round) % group.length]!;
        const rate = await sample(m.contender.workloads[workload.id]!, m.iterations, workload.scale);
        if (!Number.isFinite(rate) && options.iterations === undefined) throw new Error(`${workload.id} / ${m.contender.id}: a sample took no measurable time`);
        m.samples.push(rate);
      }
    }
    log(`round ${round + 1}/${rounds} done`);
  }
  for (const m of measurements) m.summary = summarize(m.samples);
  return { rounds, sampleMs, referenceId, defaultId: options.defaultId ?? referenceId, measurements, seconds: (performance.now() - started) / 1000 };
}

/** The results table: one row per (workload, contender), ratios against the reference. */
export function formatResults(result: BenchResult, checks: readonly TargetCheck[] = evaluateTargets(result)): string {
  const header = ['workload', 'implementation', 'backends', 'median', 'min–max', 'unit', `vs ${result.referenceId}`, 'targets (same run)'];
  const rows: string[][] = [];
  const workloads = [...new Set(result.measurements.map((m) => m.workload))];
  for (const workload of workloads) {
    const group = result.measurements.filter((m) => m.workload === workload);
    const reference = group.find((m) => m.contender.id === result.referenceId)?.summary?.median ?? Number.NaN;
    group.forEach((m, i) => {
      const s = m.summary ?? summarize(m.samples);
      rows.push([
        i === 0 ? workload.title : '',
        m.contender.label,
        m.contender.detail ?? '',
        formatRate(s.median),
        `${formatRate(s.min)}–${formatRate(s.max)}`,
        workload.unit,
        formatRatio(s.median / reference),
        targetCell(checks, workload.id, m.contender.id),
      ]);
    });
  }
  return formatTable(header, rows, ['left', 'left', 'left', 'right', 'right', 'left', 'right', 'left']);
}

/** Machine-readable form of the results (for BENCHMARKS.md and comparisons across runs). */
export function resultsJson(result: BenchResult): unknown {
  return {
    rounds: result.rounds,
    sampleMs: result.sampleMs,
    reference: result.referenceId,
    default: result.defaultId,
    seconds: result.seconds,
    targets: evaluateTargets(result).map((c) => ({ ...c, met: c.met })),
    results: result.measurements.map((m) => ({
      workload: m.workload.id,
      unit: m.workload.unit,
      contender: m.contender.id,
      backends: m.contender.detail,
      iterations: m.iterations,
      samples: m.samples,
      ...(m.summary ?? summarize(m.samples)),
    })),
  };
}
