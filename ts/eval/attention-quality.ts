// `indetail bench attention --quality`: the attention benchmark's speed at the decoder
// self-attention shapes of the model being evaluated, joined with an evaluation of the same
// variants, one row per variant (and task): decoder self-attention time per UNet step (fused
// kernels, and their speed-up over the naive implementation) next to seconds per image and the
// quality scores.
import type { UNetConfig } from '../models/unet-config.js';
import { decoderKVLayers } from '../models/unet.js';
import type { AttentionVariant } from '../pipeline/layout.js';
import { checkConfigurations, type ConfigurationInput, type EvalConfiguration } from './configurations.js';
import { METRIC_INFO, METRICS, type EvalReport } from './report.js';
import { formatStat } from './table.js';

/** The benchmark's kernels and the pipeline variants that use them. */
export const KERNEL_VARIANTS: ReadonlyArray<{ kernel: string; attention: AttentionVariant }> = [
  { kernel: 'self', attention: 'none' },
  { kernel: 'replace', attention: 'replace' },
  { kernel: 'concat', attention: 'concat' },
  { kernel: 'stratified', attention: 'stratified' },
];

export interface AttentionShape {
  Lq: number;
  heads: number;
  D: number;
  /** Decoder self-attention layers of this shape in one UNet forward. */
  layers: number;
}

const label = (s: { Lq: number; heads: number; D: number }) => `${s.Lq}x${s.heads}x${s.D}`;

/** The distinct decoder self-attention shapes of a UNet at a generation size, with their layer counts. */
export function decoderAttentionShapes(config: UNetConfig, width: number, height: number): AttentionShape[] {
  const shapes = new Map<string, AttentionShape>();
  for (const l of decoderKVLayers(config, Math.ceil(height / 8), Math.ceil(width / 8))) {
    const s = { Lq: l.tokens, heads: l.heads, D: l.width / l.heads, layers: 0 };
    const key = label(s);
    if (!shapes.has(key)) shapes.set(key, s);
    shapes.get(key)!.layers++;
  }
  return [...shapes.values()];
}

/** One evaluation configuration per variant; `base` holds the shared values (steps, seeds, samples...). */
export function variantConfigurations(base: Omit<ConfigurationInput, 'attention' | 'name'>): EvalConfiguration[] {
  return checkConfigurations(KERNEL_VARIANTS.map((v) => ({ ...base, name: v.kernel, attention: v.attention })), 'the quality benchmark');
}

interface SpeedRow {
  backend: string;
  shape: string;
  n: number;
  variant: string;
  impl: string;
  ms?: number;
}

/** The joined table: speed per backend (summed over the decoder layers of one step) and the evaluation's scores. */
export function attentionQualityRows(speed: readonly SpeedRow[], shapes: readonly AttentionShape[], n: number, report: EvalReport): { rows: Record<string, unknown>[]; columns: string[] } {
  const backends = [...new Set(speed.map((r) => r.backend))];
  const perStep = (backend: string, variant: string, impl: string): number | undefined => {
    let sum = 0;
    for (const s of shapes) {
      const r = speed.find((x) => x.backend === backend && x.shape === label(s) && x.n === n && x.variant === variant && x.impl === impl && x.ms !== undefined);
      if (!r) return undefined;
      sum += s.layers * r.ms!;
    }
    return sum;
  };
  const metrics = METRICS.filter((m) => report.summary.some((r) => r[m]));
  const rows = report.summary.map((r) => {
    const row: Record<string, unknown> = { variant: r.configuration, task: r.task };
    for (const b of backends) {
      const fused = perStep(b, r.configuration, 'fused');
      const naive = perStep(b, r.configuration, 'naive');
      row[`${b} attn ms/step`] = fused;
      row[`${b} vs naive`] = fused && naive ? naive / fused : undefined;
    }
    row['s/image'] = formatStat(r.secondsPerImage);
    for (const m of metrics) row[METRIC_INFO[m].label] = formatStat(r[m]);
    return row;
  });
  const columns = ['variant', 'task', ...backends.flatMap((b) => [`${b} attn ms/step`, `${b} vs naive`]), 's/image', ...metrics.map((m) => METRIC_INFO[m].label)];
  return { rows, columns };
}
