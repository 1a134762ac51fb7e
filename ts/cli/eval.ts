// `indetail eval`: generates every configuration x prompt x seed of an evaluation, scores the
// images (CLIP-I, CLIP-T, DINO-G, DINO-C with the encoders the user brings) and writes the images,
// report.json and chart.svg, printing the summary table. Interrupted runs continue when run again.
import type { Argv, CommandModule } from 'yargs';
import { IndetailError } from '../errors.js';
import { checkConfigurations, readConfigurations, type ConfigurationInput } from '../eval/configurations.js';
import { readPromptManifest } from '../eval/manifest.js';
import { runEvaluation } from '../eval/run.js';
import { summaryTable } from '../eval/table.js';
import type { AttentionVariant, GuidanceMode } from '../pipeline/layout.js';
import { parseSize } from './generate.js';
import { watchInterrupts } from './interrupt.js';
import { modelFlags, modelSource, type ModelFlagArgs } from './model-flags.js';
import { precisionFlag, precisionOption } from './precision-flag.js';
import { evalProgressPrinter } from './progress.js';

interface EvalArgs extends ModelFlagArgs {
  prompts: string;
  out: string;
  clip?: string;
  dino?: string;
  'dino-layer'?: number;
  configs?: string;
  attention?: string;
  'lambda-image'?: number;
  'lambda-self'?: number;
  'strat-steps'?: number;
  'guidance-mode'?: GuidanceMode;
  steps?: number;
  guidance?: number;
  seeds?: string;
  samples?: number;
  size?: string;
  backend: string;
  precision?: string;
  'kv-cache'?: boolean;
  json?: boolean;
}

const CONFIG_FLAGS = ['attention', 'lambda-image', 'lambda-self', 'strat-steps', 'guidance-mode', 'steps', 'guidance', 'seeds', 'samples'] as const;

function invalid(message: string): never {
  throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', message);
}

function parseSeeds(s: string | undefined): number[] | undefined {
  if (s === undefined) return undefined;
  const parts = s.split(',').map((x) => x.trim());
  if (!parts.every((x) => /^\d+$/.test(x) && Number.isSafeInteger(Number(x)))) invalid(`Expected a comma-separated list of non-negative integers for --seeds but received '${s}'`);
  return parts.map(Number);
}

/** The configurations: --configs, or one per --attention variant with the other flags. */
async function configurations(a: EvalArgs) {
  if (a.configs !== undefined) {
    const mixed = CONFIG_FLAGS.find((f) => a[f] !== undefined);
    if (mixed) invalid(`--configs and --${mixed} cannot be combined: put ${mixed} into the configurations file`);
    return readConfigurations(a.configs);
  }
  const variants = (a.attention ?? 'stratified').split(',').map((v) => v.trim()) as AttentionVariant[];
  const seeds = parseSeeds(a.seeds);
  const list: ConfigurationInput[] = variants.map((attention) => ({
    attention,
    ...(a['lambda-image'] !== undefined ? { lambdaImage: a['lambda-image'] } : {}),
    ...(a['lambda-self'] !== undefined ? { lambdaSelf: a['lambda-self'] } : {}),
    ...(a['strat-steps'] !== undefined ? { stratifiedSteps: a['strat-steps'] } : {}),
    ...(a['guidance-mode'] !== undefined ? { guidanceMode: a['guidance-mode'] } : {}),
    ...(a.steps !== undefined ? { steps: a.steps } : {}),
    ...(a.guidance !== undefined ? { guidanceScale: a.guidance } : {}),
    ...(seeds !== undefined ? { seeds } : {}),
    ...(a.samples !== undefined ? { samples: a.samples } : {}),
  }));
  return checkConfigurations(list, 'the command line');
}

function builder(y: Argv) {
  return modelFlags(y, { required: false, describe: 'ControlNet folder or .safetensors (for structure prompts)' })
    .option('prompts', { type: 'string', demandOption: true, describe: 'prompt manifest (.json or .csv): image, text, task, condition, id per prompt' })
    .option('out', { type: 'string', demandOption: true, describe: 'output folder (images, report.json, chart.svg); rerun with the same folder to continue' })
    .option('clip', { type: 'string', describe: 'CLIP model folder (transformers CLIPModel, safetensors) for CLIP-I and CLIP-T' })
    .option('dino', { type: 'string', describe: 'DINO ViT folder (transformers ViTModel, safetensors) for DINO-G and DINO-C' })
    .option('dino-layer', { type: 'number', describe: 'DINO block whose keys are compared (default: the last, 11 for ViT-B/8)' })
    .option('configs', { type: 'string', describe: 'JSON file of configurations (instead of the flags below)' })
    .option('attention', { type: 'string', describe: 'variant(s), comma-separated, one configuration each: stratified, concat, replace, none (default stratified)' })
    .option('lambda-image', { type: 'number', describe: 'λ_P (default 1)' })
    .option('lambda-self', { type: 'number', describe: 'λ_G (default 1)' })
    .option('strat-steps', { type: 'number', describe: 'steps with Stratified Attention (default 10; 25 for structure)' })
    .option('guidance-mode', { choices: ['conflict-free', 'conflicting'] as const, describe: 'default conflict-free' })
    .option('steps', { type: 'number', describe: 'DDIM steps (default 50)' })
    .option('guidance', { type: 'number', describe: 'guidance scale (default 7.5; 5 for structure and for SDXL)' })
    .option('seeds', { type: 'string', describe: 'comma-separated seeds, one generation each (default 0)' })
    .option('samples', { type: 'number', describe: 'images per generation (default 4, as the paper reports)' })
    .option('size', { type: 'string', describe: 'generation size N or WxH (default: the model\'s)' })
    .option('backend', { choices: ['auto', 'cpu', 'cuda'] as const, default: 'auto', describe: 'where to run' })
    .option('precision', precisionFlag)
    .option('kv-cache', { type: 'boolean', describe: 'reuse the image-prompt cache between calls (faster; timings then depend on the order)' })
    .option('json', { type: 'boolean', describe: 'print the report JSON on stdout instead of the table' })
    .example('$0 eval --model ./sd15 --prompts prompts.json --clip ./clip-vit-large-patch14 --dino ./dino-vitb8 --attention stratified,concat --out eval/', '')
    .strict();
}

async function handler(a: EvalArgs): Promise<void> {
  const prompts = await readPromptManifest(a.prompts);
  const configs = await configurations(a);
  const size = parseSize(a.size);
  const progress = evalProgressPrinter();
  const interrupt = watchInterrupts();
  try {
    const r = await runEvaluation({
      ...modelSource(a),
      backend: a.backend as 'auto' | 'cpu' | 'cuda',
      ...precisionOption(a.precision),
      prompts,
      configurations: configs,
      ...(a.clip ? { clip: a.clip } : {}),
      ...(a.dino ? { dino: a.dino } : {}),
      ...(a['dino-layer'] !== undefined ? { dinoLayer: a['dino-layer'] } : {}),
      ...(size !== undefined ? { size } : {}),
      out: a.out,
      kvCache: a['kv-cache'] === true,
      signal: interrupt.signal,
      onProgress: progress,
      onInfo: (m) => process.stderr.write(`${m}\n`),
      onWarning: (m) => process.stderr.write(`indetail: warning: ${m}\n`),
    });
    progress.done();
    process.stderr.write(`${r.generated} generation(s) run, ${r.reused} found in ${a.out}, ${r.rescored} rescored\n`);
    if (a.json) {
      process.stdout.write(`${JSON.stringify(r.report, null, 2)}\n`);
    } else {
      process.stdout.write(`${summaryTable(r.report.summary)}\n`);
      process.stdout.write(`report: ${r.reportPath}\n${r.chartPath ? `chart: ${r.chartPath}\n` : ''}`);
    }
  } catch (err) {
    progress.done();
    if (interrupt.exitCode !== undefined) {
      const stopped = new IndetailError('ERR_INDETAIL_CANCELLED', `interrupted; the finished generations are kept in ${a.out}: run the same command again to continue`);
      throw Object.assign(stopped, { exitCode: interrupt.exitCode });
    }
    throw err;
  } finally {
    interrupt.dispose();
  }
}

export const evalCommand: CommandModule<object, EvalArgs> = {
  command: 'eval',
  describe: 'Compare configurations on a set of image prompts: images, CLIP-I / CLIP-T / DINO-G / DINO-C, seconds per image (report.json, chart.svg, table)',
  builder: builder as unknown as CommandModule<object, EvalArgs>['builder'],
  handler,
};
