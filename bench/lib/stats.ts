/** Latency samples, percentiles and the printed table: every figure is shown beside its baseline and the ratio between them. */

export class Samples {
  private readonly values: number[] = [];
  /** Adds one latency in microseconds. */
  add(us: number): void {
    this.values.push(us);
  }
  get count(): number {
    return this.values.length;
  }
  percentile(p: number): number {
    if (this.values.length === 0) return Number.NaN;
    const sorted = [...this.values].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
  }
  get p50(): number {
    return this.percentile(50);
  }
  get p99(): number {
    return this.percentile(99);
  }
}

/** Times `count` sequential calls of `call` (after they ran once to warm up), in microseconds. */
export async function timeSequential(count: number, call: () => Promise<unknown>, into = new Samples()): Promise<Samples> {
  for (let i = 0; i < count; i++) {
    const started = process.hrtime.bigint();
    await call();
    into.add(Number(process.hrtime.bigint() - started) / 1000);
  }
  return into;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export interface Row {
  readonly figure: string;
  readonly value: string;
  readonly baseline?: string;
  readonly ratio?: number;
  /** The target as text, and whether this run met it. */
  readonly target?: string;
  readonly met?: boolean;
}

export const us = (value: number): string => (value >= 1000 ? `${(value / 1000).toFixed(2)} ms` : `${Math.round(value)} us`);
export const pair = (samples: Samples): string => `p50 ${us(samples.p50)} / p99 ${us(samples.p99)}`;

/** A markdown table, so a run can be pasted into docs/benchmarks.md as it is. */
export function renderTable(rows: readonly Row[]): string {
  const header = ['figure', 'value', 'baseline (same run)', 'ratio', 'target', 'met'];
  const lines = rows.map((row) => [
    row.figure,
    row.value,
    row.baseline ?? '',
    row.ratio === undefined ? '' : `${row.ratio.toFixed(2)}x`,
    row.target ?? '',
    row.met === undefined ? '' : row.met ? 'yes' : 'NO',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? '').length)));
  const render = (cells: readonly string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [render(header), render(widths.map((w) => '-'.repeat(w))), ...lines.map(render)].join('\n');
}
