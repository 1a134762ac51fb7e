// `indetail bench attention --quality`: the attention suite at the evaluated model's decoder
// shapes plus an evaluation of the same four variants (ts/eval/attention-quality.ts), as one table.
import path from 'node:path';
import { IndetailError } from '../errors.js';
import { checkTargetSize } from '../image/index.js';
import { attentionQualityRows, decoderAttentionShapes, variantConfigurations } from '../eval/attention-quality.js';
import { readPromptManifest } from '../eval/manifest.js';
import { runEvaluation } from '../eval/run.js';
import { IndetailPipeline } from '../pipeline/pipeline.js';
import { defaultImageSide } from '../models/unet-config.js';
import { parseSize } from './generate.js';
import { evalProgressPrinter } from './progress.js';

/** The command-line flags of --quality (yargs names). */
export interface QualityFlags {
  quality?: boolean;
  model?: string;
  config?: string;
  controlnet?: string;
  prompts?: string;
  clip?: string;
  dino?: string;
  steps?: number;
  samples?: number;
  seeds?: string;
  'strat-steps'?: number;
  size?: string;
  'quality-out'?: string;
}

/** The options every suite gets. */
export interface SuiteOptions {
  quick: boolean;
  backends: string[] | null;
  svgPath: string;
  peakTflops: number | null;
  cpuPeakGflops: number | null;
  log: (line: string) => void;
}

interface SpeedSuite {
  run(options: Record<string, unknown>): Promise<{ rows: Record<string, unknown>[]; notes?: string[] }>;
}

export async function attentionQuality(suite: SpeedSuite, o: SuiteOptions, a: QualityFlags) {
  if (!a.model || !a.prompts) {
    throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', '--quality needs --model (the Stable Diffusion model) and --prompts (a prompt manifest); add --clip and/or --dino for the scores');
  }
  const prompts = await readPromptManifest(a.prompts);
  const seeds = a.seeds?.split(',').map((s) => Number(s.trim()));
  const configurations = variantConfigurations({
    ...(a.steps !== undefined ? { steps: a.steps } : {}),
    ...(a.samples !== undefined ? { samples: a.samples } : {}),
    ...(seeds !== undefined ? { seeds } : {}),
    ...(a['strat-steps'] !== undefined ? { stratifiedSteps: a['strat-steps'] } : {}),
  });
  const backend = (o.backends?.[0] ?? 'auto') as 'auto' | 'cpu' | 'cuda';
  const pipe = await IndetailPipeline.load({
    model: a.model,
    ...(a.config ? { config: a.config } : {}),
    ...(a.controlnet ? { controlnet: a.controlnet } : {}),
    backend,
    onWarning: (m) => o.log(`warning: ${m}`),
  });
  try {
    const size = parseSize(a.size) ?? defaultImageSide(pipe.parts.unet.config);
    const { width, height } = checkTargetSize(size);
    const shapes = decoderAttentionShapes(pipe.parts.unet.config, width, height);
    const n = configurations[0]!.samples;
    o.log(`speed: ${shapes.length} decoder self-attention shape(s) of ${pipe.files.path} at ${width}x${height}, n = ${n}`);
    const speed = await suite.run({ ...o, shapes, ns: [n] });
    const progress = evalProgressPrinter();
    const evaluation = await runEvaluation({
      model: a.model,
      pipeline: pipe,
      ...(a.controlnet ? { controlnet: a.controlnet } : {}),
      prompts,
      configurations,
      ...(a.clip ? { clip: a.clip } : {}),
      ...(a.dino ? { dino: a.dino } : {}),
      size,
      out: path.resolve(a['quality-out'] ?? path.join('bench', 'out', 'attention-quality')),
      onProgress: progress,
    });
    progress.done();
    const joined = attentionQualityRows(speed.rows as never, shapes, n, evaluation.report);
    return {
      ...joined,
      notes: [
        ...(speed.notes ?? []),
        `attn ms/step: the fused kernel's time at each decoder self-attention shape times its layer count (${shapes.map((s) => `${s.layers} x ${s.Lq}x${s.heads}x${s.D}`).join(', ')}), batch [P, G_neg x ${n}, G_pos x ${n}]`,
        'the stratified variant runs Stratified Attention for its first steps and KV concatenation afterwards; its speed column is the stratified kernel',
        `quality: ${evaluation.generated} generation(s) run, ${evaluation.reused} reused; report ${path.resolve(evaluation.reportPath)}${evaluation.chartPath ? `, chart ${path.resolve(evaluation.chartPath)}` : ''}`,
      ],
      speed: speed.rows,
      quality: evaluation.report,
    };
  } finally {
    pipe.dispose();
  }
}
