// The evaluation report: per configuration and prompt (over its seeds) and per configuration and
// task (over its prompts), each metric as mean, standard deviation and count. Built only from the
// unit records on disk, so a resumed run and an uninterrupted one report the same numbers.
import type { Task } from '../pipeline/defaults.js';
import type { EvalConfiguration } from './configurations.js';
import type { EvalPrompt } from './manifest.js';

/** The scores of one generation (a configuration, a prompt, a seed, `samples` images). */
export interface UnitMetrics {
  clipI?: number;
  clipT?: number;
  dinoG?: number;
  dinoC?: number;
  clipIPerImage?: number[];
  clipTPerImage?: number[];
  dinoPairDistances?: number[];
  dinoConditionDistances?: number[];
}

export const METRICS = ['clipI', 'clipT', 'dinoG', 'dinoC'] as const;
export type MetricName = (typeof METRICS)[number];

/** How each metric is shown, and which way is better. */
export const METRIC_INFO: Record<MetricName, { label: string; better: 'higher' | 'lower'; what: string }> = {
  clipI: { label: 'CLIP-I', better: 'higher', what: 'image-prompt alignment' },
  clipT: { label: 'CLIP-T', better: 'higher', what: 'text alignment' },
  dinoG: { label: 'DINO-G', better: 'higher', what: 'structural diversity' },
  dinoC: { label: 'DINO-C', better: 'lower', what: 'distance to the condition structure' },
};

export interface UnitRecord {
  format: 'indetail-eval-unit/1';
  /** Hash of everything the images depend on; a mismatch regenerates the unit. */
  fingerprint: string;
  configuration: string;
  prompt: string;
  task: Task;
  seed: number;
  /** PNG paths relative to the output folder. */
  images: string[];
  /** Generation time of the call (all samples), seconds. */
  seconds: number;
  backend: string;
  /** Hash of the metric models; a mismatch recomputes the metrics only. */
  metricsFingerprint: string;
  metrics: UnitMetrics;
  /** Time of the metrics of this unit, seconds. */
  metricSeconds: number;
}

export interface Stat {
  mean: number;
  /** Population standard deviation (0 for one value). */
  std: number;
  n: number;
}

export function stat(values: readonly number[]): Stat | undefined {
  if (values.length === 0) return undefined;
  const mean = values.reduce((s, v) => s + v, 0) / values.length;
  const variance = values.reduce((s, v) => s + (v - mean) ** 2, 0) / values.length;
  return { mean, std: Math.sqrt(variance), n: values.length };
}

export type Stats = Partial<Record<MetricName | 'secondsPerImage' | 'metricSecondsPerImage', Stat>>;

export interface PromptResult extends Stats {
  configuration: string;
  prompt: string;
  task: Task;
  seeds: number[];
  images: string[];
}

export interface SummaryRow extends Stats {
  configuration: string;
  task: Task;
  prompts: number;
}

export interface EvalReport {
  format: 'indetail-eval-report/1';
  model: string;
  controlnet?: string;
  clip?: string;
  dino?: string;
  dinoLayer?: number;
  backend: string;
  configurations: EvalConfiguration[];
  prompts: EvalPrompt[];
  results: PromptResult[];
  summary: SummaryRow[];
  notes: string[];
}

const QUANTITIES = [...METRICS, 'secondsPerImage', 'metricSecondsPerImage'] as const;

function unitValue(u: UnitRecord, q: (typeof QUANTITIES)[number]): number | undefined {
  if (q === 'secondsPerImage') return u.seconds / u.images.length;
  if (q === 'metricSecondsPerImage') return u.metricSeconds / u.images.length;
  return u.metrics[q];
}

function statsOf<T>(items: readonly T[], value: (item: T, q: (typeof QUANTITIES)[number]) => number | undefined): Stats {
  const out: Stats = {};
  for (const q of QUANTITIES) {
    const s = stat(items.map((x) => value(x, q)).filter((v): v is number => v !== undefined));
    if (s) out[q] = s;
  }
  return out;
}

/** Per prompt: statistics over the prompt's seeds. Per configuration and task: over the prompts' means. */
export function aggregate(configurations: readonly EvalConfiguration[], prompts: readonly EvalPrompt[], units: readonly UnitRecord[]): { results: PromptResult[]; summary: SummaryRow[] } {
  const results: PromptResult[] = [];
  const summary: SummaryRow[] = [];
  for (const c of configurations) {
    const mine: PromptResult[] = [];
    for (const p of prompts) {
      const us = units.filter((u) => u.configuration === c.name && u.prompt === p.id);
      if (us.length === 0) continue;
      const r: PromptResult = { configuration: c.name, prompt: p.id, task: p.task, seeds: us.map((u) => u.seed), images: us.flatMap((u) => u.images), ...statsOf(us, unitValue) };
      mine.push(r);
      results.push(r);
    }
    for (const task of ['variation', 'cross', 'structure'] as const) {
      const rs = mine.filter((r) => r.task === task);
      if (rs.length === 0) continue;
      summary.push({ configuration: c.name, task, prompts: rs.length, ...statsOf(rs, (r, q) => r[q]?.mean) });
    }
  }
  return { results, summary };
}
