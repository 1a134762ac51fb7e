// The evaluation chart as standalone SVG text: one panel per metric, each configuration (and task)
// a point at (seconds per image, metric mean) with ± one standard deviation as error bars, so the
// quality / cost trade-off of the configurations can be read at a glance.
import type { Task } from '../pipeline/defaults.js';
import { METRIC_INFO, METRICS, type MetricName, type Stat, type SummaryRow } from './report.js';

const PALETTE = ['#4c78a8', '#f58518', '#54a24b', '#e45756', '#72b7b2', '#b279a2', '#ff9da6', '#9d755d', '#bab0ac', '#eeca3b'];

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function num(v: number): string {
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : a === 0 ? '0' : v.toPrecision(2);
}

/** Tick values spanning [lo, hi] with a 1-2-5 step, and their labels (as many decimals as the step needs). */
export function ticks(lo: number, hi: number, count = 5): Array<{ value: number; label: string }> {
  if (!(hi > lo)) return [{ value: lo, label: num(lo) }];
  const raw = (hi - lo) / count;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p;
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  const out: Array<{ value: number; label: string }> = [];
  for (let k = Math.ceil(lo / step); k * step <= hi + step * 1e-9; k++) {
    const value = k * step;
    out.push({ value, label: value.toFixed(decimals) });
  }
  return out;
}

function range(values: number[], fromZero: boolean): [number, number] {
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (fromZero) lo = Math.min(0, lo);
  if (hi === lo) {
    const pad = Math.abs(hi) * 0.1 || 1;
    return [lo - (fromZero ? 0 : pad), hi + pad];
  }
  const pad = (hi - lo) * 0.1;
  return [fromZero && lo === 0 ? 0 : lo - pad, hi + pad];
}

interface Point {
  label: string;
  color: string;
  task: Task;
  x: Stat;
  y: Stat;
}

// One marker shape per task, one colour per configuration.
function marker(task: Task, x: number, y: number, color: string, inner = ''): string {
  if (task === 'cross') return `<rect x="${x - 5}" y="${y - 5}" width="10" height="10" fill="${color}">${inner}</rect>`;
  if (task === 'structure') return `<path d="M ${x} ${y - 6} L ${x + 6} ${y + 5} L ${x - 6} ${y + 5} Z" fill="${color}">${inner}</path>`;
  return `<circle cx="${x}" cy="${y}" r="5" fill="${color}">${inner}</circle>`;
}

function panel(out: string[], metric: MetricName, points: Point[], left: number, top: number, w: number, h: number): void {
  const info = METRIC_INFO[metric];
  const [x0, x1] = range(points.flatMap((p) => [p.x.mean - p.x.std, p.x.mean + p.x.std]), true);
  const [y0, y1] = range(points.flatMap((p) => [p.y.mean - p.y.std, p.y.mean + p.y.std]), false);
  const X = (v: number) => left + ((v - x0) / (x1 - x0)) * w;
  const Y = (v: number) => top + h - ((v - y0) / (y1 - y0)) * h;
  out.push(`<text x="${left}" y="${top - 10}" font-weight="bold">${esc(`${info.label} (${info.what}; ${info.better} is better)`)}</text>`);
  for (const t of ticks(y0, y1)) {
    out.push(`<line x1="${left}" x2="${left + w}" y1="${Y(t.value)}" y2="${Y(t.value)}" stroke="#e4e4e4"/>`);
    out.push(`<text x="${left - 6}" y="${Y(t.value) + 4}" text-anchor="end">${t.label}</text>`);
  }
  for (const t of ticks(x0, x1)) out.push(`<text x="${X(t.value)}" y="${top + h + 16}" text-anchor="middle">${t.label}</text>`);
  out.push(`<rect x="${left}" y="${top}" width="${w}" height="${h}" fill="none" stroke="black"/>`);
  out.push(`<text x="${left + w / 2}" y="${top + h + 34}" text-anchor="middle">seconds per image</text>`);
  for (const p of points) {
    const cx = X(p.x.mean);
    const cy = Y(p.y.mean);
    const tip = `<title>${esc(`${p.label}: ${info.label} ${num(p.y.mean)} ± ${num(p.y.std)} (n ${p.y.n}), ${num(p.x.mean)} s/image`)}</title>`;
    out.push(`<line x1="${cx}" x2="${cx}" y1="${Y(p.y.mean - p.y.std)}" y2="${Y(p.y.mean + p.y.std)}" stroke="${p.color}"/>`);
    out.push(`<line x1="${X(p.x.mean - p.x.std)}" x2="${X(p.x.mean + p.x.std)}" y1="${cy}" y2="${cy}" stroke="${p.color}"/>`);
    out.push(marker(p.task, cx, cy, p.color, tip));
  }
}

/** The chart of a report summary ('' when no metric was computed). */
export function evalChart(summary: readonly SummaryRow[], title: string): string {
  const metrics = METRICS.filter((m) => summary.some((r) => r[m] && r.secondsPerImage));
  if (metrics.length === 0) return '';
  const tasks = new Set(summary.map((r) => r.task));
  const names = [...new Set(summary.map((r) => r.configuration))];
  const color = (name: string) => PALETTE[names.indexOf(name) % PALETTE.length]!;
  const cols = Math.min(2, metrics.length);
  const rowsN = Math.ceil(metrics.length / cols);
  const pw = 440;
  const ph = 260;
  const width = cols * (pw + 110) + 20;
  const legendRows = Math.ceil((names.length + tasks.size) / 5);
  const top0 = 56 + legendRows * 20 + 30;
  const height = top0 + rowsN * (ph + 90);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  out.push(`<text x="${width / 2}" y="26" text-anchor="middle" font-size="16" font-weight="bold">${esc(title)}</text>`);
  const legend = [
    ...names.map((n) => ({ text: n, mark: `<rect x="-5" y="-5" width="10" height="10" fill="${color(n)}"/>` })),
    ...[...tasks].map((t) => ({ text: t, mark: marker(t, 0, 0, '#555') })),
  ];
  legend.forEach((l, i) => {
    const x = 40 + (i % 5) * ((width - 60) / 5);
    const y = 56 + Math.floor(i / 5) * 20;
    out.push(`<g transform="translate(${x},${y})">${l.mark}</g><text x="${x + 12}" y="${y + 4}">${esc(l.text)}</text>`);
  });
  metrics.forEach((m, i) => {
    const points = summary
      .filter((r) => r[m] && r.secondsPerImage)
      .map((r) => ({ label: `${r.configuration} (${r.task})`, color: color(r.configuration), task: r.task, x: r.secondsPerImage!, y: r[m]! }));
    panel(out, m, points, 80 + (i % cols) * (pw + 110), top0 + Math.floor(i / cols) * (ph + 90), pw, ph);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
