// `indetail variation|cross|structure`: one generation from the command line. Everything the
// command line says is checked before the model loads (flags, values, input files, --out); then
// the model loads, the images are generated and written under names no other run uses.
import path from 'node:path';
import type { Argv, CommandModule, Options } from 'yargs';
import { IndetailError } from '../errors.js';
import { checkRegularFile } from '../files/input-file.js';
import { PROMPT_SUFFIX, type Task } from '../pipeline/defaults.js';
import { validateCallOptions, type PipelineCallOptions } from '../pipeline/options.js';
import { IndetailPipeline, type PipelineLoadOptions } from '../pipeline/pipeline.js';
import { watchInterrupts, type Interrupt } from './interrupt.js';
import { modelFlags, modelSource, type ModelFlagArgs } from './model-flags.js';
import { precisionFlag, precisionOption } from './precision-flag.js';
import { prepareOutDir, writeImagesOrKeep, type KeptImagesError, type OutputImage } from './outputs.js';
import { progressPrinter } from './progress.js';

type Args = Record<string, unknown> & ModelFlagArgs & { backend: string; out: string; overwrite?: boolean; json?: boolean };

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

/**
 * The flags that become pipeline call options: flag -> [call option, yargs option, parser]. The
 * one table behind the call, the flag names in error messages and --help; a new call option is
 * one line here.
 */
type CallFlag = [keyof PipelineCallOptions, Options, ((s: string | undefined) => unknown)?];
function callFlags(task: Task): Record<string, CallFlag> {
  const structure = task === 'structure';
  return {
    image: ['image', { type: 'string', demandOption: true, describe: 'the image prompt (PNG, JPEG, WebP, TIFF)' }],
    prompt: ['prompt', { type: 'string', demandOption: true, describe: 'the text prompt' }],
    negative: ['negativePrompt', { type: 'string', describe: 'negative prompt (default "bad anatomy, bad hands, cropped, worst quality")' }],
    'inversion-prompt': ['inversionPrompt', { type: 'string', describe: `prompt of the DDIM inversion (default: ${task === 'variation' ? 'the prompt' : 'empty'})` }],
    'quality-suffix': ['qualitySuffix', { type: 'string', describe: `appended to the prompt and the inversion prompt (default "${PROMPT_SUFFIX}"); --no-quality-suffix: none` }],
    samples: ['samples', { type: 'number', describe: 'images to generate (default 1)' }],
    steps: ['steps', { type: 'number', describe: 'DDIM steps (default 50)' }],
    guidance: ['guidanceScale', { type: 'number', describe: `guidance scale (default ${structure ? 5 : '7.5; 5 for SDXL'})` }],
    'strat-steps': ['stratifiedSteps', { type: 'number', describe: `steps with Stratified Attention, at most --steps (default ${structure ? 25 : 10}, or every step when --steps is smaller)` }],
    'lambda-image': ['lambdaImage', { type: 'number', describe: 'λ_P, weight of the image prompt in Stratified Attention (default 1)' }],
    'lambda-self': ['lambdaSelf', { type: 'number', describe: 'λ_G, weight of the generated image (default 1)' }],
    'guidance-mode': ['guidanceMode', { choices: ['conflict-free', 'conflicting'], describe: 'conflict-free (default) or the conflicting baseline' }],
    attention: ['attention', { choices: ['stratified', 'concat', 'replace', 'none'], describe: 'image-prompt attention (default stratified)' }],
    size: ['size', { type: 'string', describe: "output size N or WxH, multiples of 8 (default: the model's: 512 for SD 1.5, 768 for SD 2.x v models, 1024 for SDXL)" }, parseSize],
    seed: ['seed', { type: 'string', describe: 'seed of the initial noise (default: random, printed)' }, parseSeed],
    reconstruction: ['includeReconstruction', { type: 'boolean', describe: "also write the image prompt's reconstruction" }],
    'allow-large-size': ['allowLargeSize', { type: 'boolean', describe: 'run sizes above the backend\'s cost limit (refused by default, with the estimate)' }],
    ...(structure
      ? {
          control: ['control', { type: 'string', demandOption: true, describe: 'the control image (depth map, soft edges)' }] as CallFlag,
          'control-scale': ['controlScale', { type: 'number', describe: 'ControlNet conditioning scale (default 1)' }] as CallFlag,
        }
      : {}),
  };
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
    let b = modelFlags(y, task === 'structure' ? { required: true, describe: 'ControlNet folder or .safetensors' } : null);
    for (const [flag, [, option]] of Object.entries(callFlags(task))) b = b.option(flag, option);
    b = b
      .option('backend', { choices: ['auto', 'cpu', 'cuda'] as const, default: 'auto', describe: 'where to run' })
      .option('precision', precisionFlag)
      .option('out', { type: 'string', default: '.', describe: 'output folder (created if missing; must be writable)' })
      .option('overwrite', { type: 'boolean', describe: 'replace files of the same name instead of numbering this run\'s files (name_2.png, ...)' })
      .option('json', { type: 'boolean', describe: 'print a JSON summary on stdout' });
    for (const e of examples[task]) b = b.example(e, '');
    return b.strict();
  };
}

/** The call options of the command line (not yet checked). */
function callOptions(task: Task, a: Args): PipelineCallOptions {
  const o: Record<string, unknown> = {};
  for (const [flag, [key, , parse]] of Object.entries(callFlags(task))) {
    const v = parse ? parse(a[flag] as string | undefined) : a[flag];
    if (v !== undefined) o[key] = v;
  }
  return o as unknown as PipelineCallOptions;
}

// One command makes one call: the image-prompt cache, which pays off from the second call with
// the same image prompt, would only cost its entry's memory (2.6 GiB for SD1.5 at 512x512 and 50
// steps on the CPU) and the time to record it.
function loadOptions(a: Args): PipelineLoadOptions {
  return { ...modelSource(a), backend: a.backend as 'auto' | 'cpu' | 'cuda', ...precisionOption(a.precision), kvCache: false };
}

/** Runs a check whose messages name call options ("for stratifiedSteps") and names the flags instead. */
async function inFlagTerms(task: Task, check: () => Promise<void>): Promise<void> {
  try {
    await check();
  } catch (err) {
    if (!(err instanceof IndetailError) || err.code !== 'ERR_INDETAIL_INVALID_ARGUMENT') throw err;
    let message = err.message;
    for (const [flag, [key]] of Object.entries(callFlags(task))) message = message.replace(new RegExp(`\\bfor ${key}\\b`, 'g'), `for --${flag}`);
    throw new IndetailError(err.code, message, { cause: err });
  }
}

async function generateAndWrite(task: Task, a: Args, call: PipelineCallOptions, interrupt: Interrupt, removeCreatedOut: () => Promise<void>): Promise<void> {
  const progress = progressPrinter();
  const info = (m: string) => {
    if (!a.json) process.stderr.write(`${m}\n`);
  };
  let pipe: IndetailPipeline | undefined;
  let written: string[] = [];
  try {
    pipe = await IndetailPipeline.load({ ...loadOptions(a), onInfo: info, onWarning: (m) => process.stderr.write(`indetail: warning: ${m}\n`) });
    const result = await pipe[task]({ ...call, signal: interrupt.signal, onProgress: progress });
    progress.done();
    const seed = String(result.parameters.seed);
    const images: OutputImage[] = [...(result.reconstruction ? [result.reconstruction] : []), ...result.images];
    interrupt.writing = true;
    try {
      written = await writeImagesOrKeep(images, { dir: a.out, task, seed, overwrite: a.overwrite === true, signal: interrupt.signal });
    } catch (err) {
      if (a.json) process.stdout.write(`${JSON.stringify({ error: (err as Error).message, files: (err as KeptImagesError).files ?? [], parameters: result.parameters }, null, 2)}\n`);
      throw err;
    }
    if (interrupt.exitCode !== undefined) {
      throw new IndetailError('ERR_INDETAIL_CANCELLED', `interrupted while writing: ${written.length} of ${images.length} images written${written.length ? ` (${written.join(', ')})` : ''}`);
    }
    if (a.json) {
      process.stdout.write(`${JSON.stringify({ files: written, parameters: result.parameters, backend: result.backend, timings: result.timings, kvCache: result.kvCache }, null, 2)}\n`);
    } else {
      process.stderr.write(`seed ${seed}, ${result.backend}, ${result.timings.total.toFixed(1)} s\n`);
      for (const f of written) process.stdout.write(`${f}\n`);
    }
  } finally {
    progress.done();
    pipe?.dispose();
    if (written.length === 0) await removeCreatedOut();
  }
}

async function handler(task: Task, a: Args): Promise<void> {
  // 1. Everything the command line says, before any work: the values, the input files, the
  //    values against the model's configs and the backend, --out.
  const call = callOptions(task, a);
  await inFlagTerms(task, async () => validateCallOptions(task, call));
  for (const flag of ['image', 'control'] as const) {
    if (typeof a[flag] === 'string') await checkRegularFile(`--${flag}`, a[flag]);
  }
  await inFlagTerms(task, () => IndetailPipeline.validateCall(loadOptions(a), task, call));
  const removeCreatedOut = await prepareOutDir(path.resolve(a.out));
  // 2. The model and the generation, which SIGINT / SIGTERM stop.
  const interrupt = watchInterrupts();
  try {
    await generateAndWrite(task, a, call, interrupt, removeCreatedOut);
  } catch (err) {
    throw interrupt.exitCode === undefined ? err : Object.assign(err as Error, { exitCode: interrupt.exitCode });
  } finally {
    interrupt.dispose();
  }
}

export function generateCommand(task: Task): CommandModule<object, Args> {
  return {
    command: task,
    describe: descriptions[task],
    builder: builder(task) as unknown as CommandModule<object, Args>['builder'],
    handler: (a) => handler(task, a),
  };
}
