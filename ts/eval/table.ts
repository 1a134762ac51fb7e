// The terminal table of an evaluation: one row per configuration and task, "mean ± std" per metric.
import { METRIC_INFO, METRICS, type Stat, type SummaryRow } from './report.js';

function fmt(v: number): string {
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : a >= 0.001 || a === 0 ? v.toFixed(4) : v.toExponential(2);
}

export function formatStat(s: Stat | undefined): string {
  if (!s) return '-';
  return s.n > 1 ? `${fmt(s.mean)} ± ${fmt(s.std)}` : fmt(s.mean);
}

/** Plain-text columns, first column left-aligned, the others right-aligned. */
export function textTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export function summaryTable(summary: readonly SummaryRow[]): string {
  const metrics = METRICS.filter((m) => summary.some((r) => r[m]));
  const header = ['configuration', 'task', 'prompts', 's/image', ...metrics.map((m) => `${METRIC_INFO[m].label} ${METRIC_INFO[m].better === 'higher' ? '↑' : '↓'}`)];
  const rows = summary.map((r) => [r.configuration, r.task, String(r.prompts), formatStat(r.secondsPerImage), ...metrics.map((m) => formatStat(r[m]))]);
  return textTable(header, rows);
}
