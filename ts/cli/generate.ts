// `indetail variation|cross|structure`: one generation from the command line.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { IndetailError } from '../errors.js';
import { writeFileAtomic } from '../image/index.js';
import type { Task } from '../pipeline/defaults.js';
import { IndetailPipeline } from '../pipeline/pipeline.js';
import type { PrecisionOption } from '../precision.js';
import { progressPrinter } from './progress.js';

interface GenerateArgs {
  model: string;
  config?: string;
  image: string;
  prompt: string;
  negative?: string;
  'inversion-prompt'?: string;
  samples?: number;
  steps?: number;
  guidance?: number;
  'strat-steps'?: number;
  'lambda-image'?: number;
  'lambda-self'?: number;
  'guidance-mode'?: 'conflict-free' | 'conflicting';
  attention?: 'stratified' | 'concat' | 'replace' | 'none';
  size?: string;
  seed?: string;
  backend: string;
  precision: string;
  out: string;
  control?: string;
  controlnet?: string;
  'control-scale'?: number;
  reconstruction?: boolean;
  json?: boolean;
}

function userError(message: string): never {
  throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', message);
}

export function parseSize(s: string | undefined): number | { width: number; height: number } | undefined {
  if (s === undefined) return undefined;
  const m = /^(\d+)(?:x(\d+))?$/i.exec(s.trim());
  if (!m) userError(`Expected N or WxH (e.g. 512 or 768x512) for --size but received '${s}'`);
  return m[2] === undefined ? Number(m[1]) : { width: Number(m[1]), height: Number(m[2]) };
}

export function parseSeed(s: string | undefined): number | bigint | undefined {
  if (s === undefined) return undefined;
  if (!/^\d+$/.test(s)) userError(`Expected a non-negative integer for --seed but received '${s}'`);
  const b = BigInt(s);
  if (b >= 2n ** 64n) userError(`Expected a seed below 2^64 for --seed but received '${s}'`);
  return b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
}

const examples: Record<Task, string[]> = {
  variation: ['$0 variation --model ./stable-diffusion-v1-5 --image cat.jpg --prompt "a photograph of a cat" --samples 4 --seed 7 --out out/'],
  cross: ['$0 cross --model ./sd15.safetensors --image painting.png --prompt "an owl" --out out/'],
  structure: ['$0 structure --model ./stable-diffusion-v1-5 --controlnet ./sd-controlnet-depth --image style.png --control depth.png --prompt "a penguin" --out out/'],
};

const descriptions: Record<Task, string> = {
  variation: 'Image variation: new images of the image prompt, described by the prompt',
  cross: 'Cross-prompt generation: the prompt\'s content in the image prompt\'s style',
  structure: 'Structure-guided generation: the control image\'s structure (ControlNet) with the image prompt\'s details',
};

function builder(task: Task) {
  return (y: Argv) => {
    let b = y
      .option('model', { type: 'string', demandOption: true, describe: 'diffusers SD1.x folder or single-file .safetensors' })
      .option('config', { type: 'string', describe: 'for single-file models: a diffusers folder whose configs to use' })
      .option('image', { type: 'string', demandOption: true, describe: 'the image prompt (PNG, JPEG, WebP, TIFF)' })
      .option('prompt', { type: 'string', demandOption: true, describe: 'the text prompt' })
      .option('negative', { type: 'string', describe: 'negative prompt (default "bad anatomy, bad hands, cropped, worst quality")' })
      .option('inversion-prompt', { type: 'string', describe: `prompt of the DDIM inversion (default: ${task === 'variation' ? 'the prompt' : 'empty'})` })
      .option('samples', { type: 'number', describe: 'images to generate (default 1)' })
      .option('steps', { type: 'number', describe: 'DDIM steps (default 50)' })
      .option('guidance', { type: 'number', describe: `guidance scale (default ${task === 'structure' ? 5 : 7.5})` })
      .option('strat-steps', { type: 'number', describe: `steps with Stratified Attention (default ${task === 'structure' ? 25 : 10})` })
      .option('lambda-image', { type: 'number', describe: 'λ_P, weight of the image prompt in Stratified Attention (default 1)' })
      .option('lambda-self', { type: 'number', describe: 'λ_G, weight of the generated image (default 1)' })
      .option('guidance-mode', { choices: ['conflict-free', 'conflicting'] as const, describe: 'conflict-free (default) or the conflicting baseline' })
      .option('attention', { choices: ['stratified', 'concat', 'replace', 'none'] as const, describe: 'image-prompt attention (default stratified)' })
      .option('size', { type: 'string', describe: 'output size N or WxH, multiples of 8 (default: the model\'s, 512 for SD1.5)' })
      .option('seed', { type: 'string', describe: 'seed of the initial noise (default: random, printed)' })
      .option('backend', { choices: ['auto', 'cpu', 'cuda'] as const, default: 'auto', describe: 'where to run' })
      .option('precision', {
        choices: ['auto', 'f32', 'bf16', 'f16'] as const,
        default: 'auto',
        describe: 'cpu: f32 or bf16; cuda: f16 or bf16; auto: bf16 on CPUs with AVX512-BF16/AMX for full-size models, else f32 (cpu) / f16 (cuda)',
      })
      .option('out', { type: 'string', default: '.', describe: 'output directory' })
      .option('reconstruction', { type: 'boolean', describe: 'also write the image prompt\'s reconstruction' })
      .option('json', { type: 'boolean', describe: 'print a JSON summary on stdout' });
    if (task === 'structure') {
      b = b
        .option('control', { type: 'string', demandOption: true, describe: 'the control image (depth map, soft edges)' })
        .option('controlnet', { type: 'string', demandOption: true, describe: 'ControlNet folder or .safetensors' })
        .option('control-scale', { type: 'number', describe: 'ControlNet conditioning scale (default 1)' });
    }
    for (const e of examples[task]) b = b.example(e, '');
    return b.strict();
  };
}

async function handler(task: Task, a: GenerateArgs): Promise<void> {
  const progress = progressPrinter();
  const info = (m: string) => {
    if (!a.json) process.stderr.write(`${m}\n`);
  };
  const size = parseSize(a.size);
  const seed = parseSeed(a.seed);
  const abort = new AbortController();
  const onSignal = () => abort.abort(new Error('interrupted'));
  process.once('SIGINT', onSignal);
  const pipe = await IndetailPipeline.load({
    model: a.model,
    ...(a.config ? { config: a.config } : {}),
    ...(a.controlnet ? { controlnet: a.controlnet } : {}),
    backend: a.backend as 'auto' | 'cpu' | 'cuda',
    precision: a.precision as PrecisionOption,
    onInfo: info,
    onWarning: (m) => process.stderr.write(`indetail: warning: ${m}\n`),
  });
  try {
    const result = await pipe[task]({
      image: a.image,
      prompt: a.prompt,
      ...(a.negative !== undefined ? { negativePrompt: a.negative } : {}),
      ...(a['inversion-prompt'] !== undefined ? { inversionPrompt: a['inversion-prompt'] } : {}),
      ...(a.samples !== undefined ? { samples: a.samples } : {}),
      ...(a.steps !== undefined ? { steps: a.steps } : {}),
      ...(a.guidance !== undefined ? { guidanceScale: a.guidance } : {}),
      ...(a['strat-steps'] !== undefined ? { stratifiedSteps: a['strat-steps'] } : {}),
      ...(a['lambda-image'] !== undefined ? { lambdaImage: a['lambda-image'] } : {}),
      ...(a['lambda-self'] !== undefined ? { lambdaSelf: a['lambda-self'] } : {}),
      ...(a['guidance-mode'] !== undefined ? { guidanceMode: a['guidance-mode'] } : {}),
      ...(a.attention !== undefined ? { attention: a.attention } : {}),
      ...(size !== undefined ? { size } : {}),
      ...(seed !== undefined ? { seed } : {}),
      ...(a.control !== undefined ? { control: a.control } : {}),
      ...(a['control-scale'] !== undefined ? { controlScale: a['control-scale'] } : {}),
      includeReconstruction: a.reconstruction === true,
      signal: abort.signal,
      onProgress: progress,
    });
    progress.done();
    await mkdir(a.out, { recursive: true });
    const seedText = String(result.parameters.seed);
    const written: string[] = [];
    const all = [...(result.reconstruction ? [result.reconstruction] : []), ...result.images];
    for (const img of all) {
      const name = img.frame === 0 ? `${task}-${seedText}-reconstruction.png` : `${task}-${seedText}-${img.frame}.png`;
      const file = path.join(a.out, name);
      await writeFileAtomic(file, img.png);
      written.push(file);
    }
    if (a.json) {
      process.stdout.write(`${JSON.stringify({ files: written, parameters: result.parameters, backend: result.backend, timings: result.timings }, null, 2)}\n`);
    } else {
      process.stderr.write(`seed ${seedText}, ${result.backend}, ${result.timings.total.toFixed(1)} s\n`);
      for (const f of written) process.stdout.write(`${f}\n`);
    }
  } finally {
    process.off('SIGINT', onSignal);
    progress.done();
    pipe.dispose();
  }
}

export function generateCommand(task: Task): CommandModule<object, GenerateArgs> {
  return {
    command: task,
    describe: descriptions[task],
    builder: builder(task) as unknown as CommandModule<object, GenerateArgs>['builder'],
    handler: (a) => handler(task, a),
  };
}
