/** Shared by the peer adapters (Node only: peers are devDependencies of the bench). */
import type { Contender } from '../runner.js';
import type { WorkloadId, WorkloadResult } from '../workloads.js';

export type PeerWorkloads = Partial<Record<WorkloadId, (iterations: number) => Promise<WorkloadResult>>>;

export const now = (): number => performance.now();

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export function unhex(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'hex'));
}

export function peer(id: string, label: string, detail: string, workloads: PeerWorkloads): Contender {
  return { id, label, detail, workloads };
}

/** Times `iterations` calls of `step(i)` after `prepare`; operations = iterations. */
export async function timed(iterations: number, step: (i: number) => Promise<void> | void): Promise<WorkloadResult> {
  if (!Number.isInteger(iterations) || iterations < 1) throw new RangeError(`iterations must be a positive integer, got ${iterations}`);
  const t0 = now();
  for (let i = 0; i < iterations; i++) await step(i);
  return { operations: iterations, seconds: (now() - t0) / 1000 };
}
