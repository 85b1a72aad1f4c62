/**
 * The targets of issue 7, checked on the medians of one run (same machine, same process):
 * - one-way ≥ 3× libsignal-client and ≥ 1.5× the AgentMesh TypeScript SDK (Microsoft's);
 * - ping-pong ≥ 1.2× libsignal-client and ≥ 8× that SDK;
 * - session setup ≥ 1.0× libsignal-client and ≥ 15× that SDK;
 * - each workload ≥ 80% of the floor on the same primitives (floor.ts, same preset);
 * - each persisted variant ≥ 50% of the in-memory one.
 * Peer ratios are checked for ours with the runtime's default preset; the floor and persisted
 * ratios for every preset of ours. Runtime-neutral.
 */
import type { BenchResult } from './runner.js';
import type { WorkloadId } from './workloads.js';

export interface TargetCheck {
  readonly workload: WorkloadId;
  /** Our contender the check is about. */
  readonly contender: string;
  /** e.g. `≥3.00× libsignal-client`. */
  readonly target: string;
  readonly required: number;
  /** Ratio of medians; NaN when the other side was not measured. */
  readonly figure: number;
  readonly met: boolean;
}

const PEER_TARGETS: readonly { workload: WorkloadId; peer: string; name: string; required: number }[] = [
  { workload: 'one-way-1k', peer: 'libsignal-client', name: 'libsignal-client', required: 3 },
  { workload: 'one-way-1k', peer: 'ms-sdk', name: 'MS SDK', required: 1.5 },
  { workload: 'ping-pong-1k', peer: 'libsignal-client', name: 'libsignal-client', required: 1.2 },
  { workload: 'ping-pong-1k', peer: 'ms-sdk', name: 'MS SDK', required: 8 },
  { workload: 'session-setup', peer: 'libsignal-client', name: 'libsignal-client', required: 1 },
  { workload: 'session-setup', peer: 'ms-sdk', name: 'MS SDK', required: 15 },
];

const FLOOR_SHARE = 0.8;
const PERSISTED_SHARE = 0.5;

export function evaluateTargets(result: BenchResult): TargetCheck[] {
  const median = (workload: WorkloadId, contender: string): number => {
    const m = result.measurements.find((x) => x.workload.id === workload && x.contender.id === contender);
    if (!m || m.samples.length === 0) return Number.NaN;
    const sorted = [...m.samples].sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  };
  const checks: TargetCheck[] = [];
  const add = (workload: WorkloadId, contender: string, target: string, required: number, figure: number) =>
    checks.push({ workload, contender, target, required, figure, met: Number.isFinite(figure) && figure >= required });

  const ours = [...new Set(result.measurements.filter((m) => m.contender.label.startsWith('ours')).map((m) => m.contender.id))];
  for (const t of PEER_TARGETS) {
    // Only where both sides ran (the browser bench has no peers).
    const ran = (id: string) => result.measurements.some((m) => m.workload.id === t.workload && m.contender.id === id);
    if (!ran(result.defaultId) || !ran(t.peer)) continue;
    add(t.workload, result.defaultId, `≥${t.required.toFixed(2)}× ${t.name}`, t.required, median(t.workload, result.defaultId) / median(t.workload, t.peer));
  }
  for (const m of result.measurements) {
    const id = m.contender.id;
    if (!ours.includes(id)) continue;
    const floor = median(m.workload.id, `floor:${id}`);
    if (Number.isFinite(floor)) add(m.workload.id, id, `≥${FLOOR_SHARE.toFixed(2)}× floor`, FLOOR_SHARE, median(m.workload.id, id) / floor);
    if (m.workload.inMemory) {
      add(m.workload.id, id, `≥${PERSISTED_SHARE.toFixed(2)}× in-memory`, PERSISTED_SHARE, median(m.workload.id, id) / median(m.workload.inMemory, id));
    }
  }
  return checks;
}

export function formatCheck(c: TargetCheck): string {
  const figure = Number.isFinite(c.figure) ? `${c.figure.toFixed(2)}×` : 'n/a';
  return `${c.target}: ${figure} ${Number.isFinite(c.figure) ? (c.met ? 'met' : 'MISSED') : 'not measured'}`;
}

/** The checks of one table row, joined. */
export function targetCell(checks: readonly TargetCheck[], workload: WorkloadId, contender: string): string {
  return checks
    .filter((c) => c.workload === workload && c.contender === contender)
    .map(formatCheck)
    .join('; ');
}

export function targetSummary(checks: readonly TargetCheck[]): string {
  const measured = checks.filter((c) => Number.isFinite(c.figure));
  const met = measured.filter((c) => c.met).length;
  return `targets: ${met} met, ${measured.length - met} missed${checks.length > measured.length ? `, ${checks.length - measured.length} not measured` : ''}`;
}
