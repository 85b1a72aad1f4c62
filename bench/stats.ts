/** Summary statistics and plain-text tables for the benchmark. Runtime-neutral. */

export interface Summary {
  readonly n: number;
  readonly median: number;
  readonly min: number;
  readonly max: number;
  /** Median absolute deviation from the median, relative to the median (0.02 = 2%). */
  readonly spread: number;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function summarize(values: readonly number[]): Summary {
  const m = median(values);
  return {
    n: values.length,
    median: m,
    min: Math.min(...values),
    max: Math.max(...values),
    spread: m === 0 ? 0 : median(values.map((v) => Math.abs(v - m))) / m,
  };
}

/** A rate with thousands separators and a precision that suits its size: 23,445 · 613 · 31.2 · 0.84. */
export function formatRate(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const digits = x >= 100 ? 0 : x >= 10 ? 1 : 2;
  return x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function formatRatio(x: number): string {
  return Number.isFinite(x) ? `${x.toFixed(2)}×` : '—';
}

export type Align = 'left' | 'right';

/** Renders rows as an aligned text table with a rule under the header. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[], align: readonly Align[] = []): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (align[i] === 'right' ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
