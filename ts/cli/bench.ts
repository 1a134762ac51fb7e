// `indetail bench <suite>`: runs a benchmark suite shipped in the package's bench/ folder
// (e.g. `indetail bench attention`), prints its table and notes, writes its results as JSON and,
// for suites that draw one, an SVG chart.
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { CommandModule } from 'yargs';
import { IndetailError } from '../errors.js';
import { makeFolders } from '../files/make-folders.js';
import { packageRoot } from '../native/addon.js';
import { attentionQuality, type QualityFlags, type SuiteOptions } from './bench-quality.js';

interface BenchArgs extends QualityFlags {
  suite: string;
  quick?: boolean;
  out?: string;
  json?: string;
  backend?: string[];
  'peak-tflops'?: number;
  'cpu-peak-gflops'?: number;
}

interface SuiteResult {
  rows: Record<string, unknown>[];
  columns?: string[];
  notes?: string[];
  skipped?: string;
}

interface Suite {
  name: string;
  description: string;
  run(options: Record<string, unknown>): Promise<SuiteResult>;
}

const benchDir = path.join(packageRoot, 'bench');

function suiteNames(): string[] {
  const dir = path.join(benchDir, 'suites');
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.mjs')).map((f) => f.slice(0, -4)).sort() : [];
}

export const benchCommand: CommandModule<object, BenchArgs> = {
  command: 'bench <suite>',
  describe: 'Run a benchmark suite (attention: naive vs fused attention variants on CPU and CUDA; with --quality also their image quality)',
  builder: (y) =>
    y
      .positional('suite', { type: 'string', demandOption: true, describe: `suite name (${suiteNames().join(', ') || 'none installed'})` })
      .option('quick', { type: 'boolean', describe: 'smaller problem set' })
      .option('out', { type: 'string', describe: 'SVG chart path (default: bench/out/<suite>.svg under the current directory)' })
      .option('json', { type: 'string', describe: 'results JSON path (default: bench/out/<suite>.json under the current directory)' })
      .option('backend', { type: 'string', array: true, choices: ['cpu', 'cuda'], describe: 'backends to measure (default: all found)' })
      .option('peak-tflops', { type: 'number', describe: 'GPU peak for "% of peak" (default: 989 on H100/H200 SXM)' })
      .option('cpu-peak-gflops', { type: 'number', describe: 'CPU fp32 peak for "% of peak" (default: estimated)' })
      .option('quality', { type: 'boolean', describe: 'attention: also evaluate the four variants (CLIP-I, CLIP-T, DINO-G, DINO-C, s/image) and join speed and quality in one table' })
      .option('model', { type: 'string', describe: '--quality: the Stable Diffusion model (its decoder shapes are the speed shapes)' })
      .option('config', { type: 'string', describe: '--quality: for single-file models, a diffusers folder whose configs to use' })
      .option('controlnet', { type: 'string', describe: '--quality: ControlNet for structure prompts' })
      .option('prompts', { type: 'string', describe: '--quality: prompt manifest (.json or .csv, see indetail eval)' })
      .option('clip', { type: 'string', describe: '--quality: CLIP model folder (CLIP-I, CLIP-T)' })
      .option('dino', { type: 'string', describe: '--quality: DINO ViT folder (DINO-G, DINO-C)' })
      .option('steps', { type: 'number', describe: '--quality: DDIM steps (default 50)' })
      .option('samples', { type: 'number', describe: '--quality: images per generation, also the speed batch n (default 4)' })
      .option('seeds', { type: 'string', describe: '--quality: comma-separated seeds (default 0)' })
      .option('strat-steps', { type: 'number', describe: '--quality: steps with Stratified Attention (default: the task\'s)' })
      .option('size', { type: 'string', describe: '--quality: generation size N or WxH (default: the model\'s)' })
      .option('quality-out', { type: 'string', describe: '--quality: evaluation folder (default bench/out/attention-quality; rerun to reuse its images)' })
      .strict(),
  handler: async (argv) => {
    const file = path.join(benchDir, 'suites', `${argv.suite}.mjs`);
    if (!existsSync(file)) {
      throw new IndetailError(
        'ERR_INDETAIL_INVALID_ARGUMENT',
        `Expected one of ${suiteNames().join(', ') || '(no suites installed)'} for suite but received ${JSON.stringify(argv.suite)} (looked in ${path.dirname(file)})`,
      );
    }
    const suite = (await import(pathToFileURL(file).href)) as Suite;
    const report = (await import(pathToFileURL(path.join(benchDir, 'lib', 'report.mjs')).href)) as {
      formatTable(rows: Record<string, unknown>[], columns?: string[]): string;
      machineInfo(): Record<string, unknown>;
    };
    const svgPath = path.resolve(argv.out ?? path.join('bench', 'out', `${suite.name}.svg`));
    const jsonPath = path.resolve(argv.json ?? path.join('bench', 'out', `${suite.name}.json`));
    // The output folders exist before the suite runs (a path that cannot be created fails now).
    for (const [flag, file] of [['--out', svgPath], ['--json', jsonPath]] as const) {
      await makeFolders(path.dirname(file)).catch((err: Error) => {
        throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `cannot use ${flag} ${file}: its folder cannot be created (${err.message})`, { cause: err });
      });
    }
    process.stdout.write(`== ${suite.name}: ${suite.description}\n`);
    const options: SuiteOptions = {
      quick: argv.quick ?? false,
      svgPath,
      backends: argv.backend ?? null,
      peakTflops: argv['peak-tflops'] ?? null,
      cpuPeakGflops: argv['cpu-peak-gflops'] ?? null,
      log: (line: string) => process.stderr.write(`  ${line}\n`),
    };
    if (argv.quality && suite.name !== 'attention') {
      throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `--quality is an option of the attention suite, not of ${suite.name}`);
    }
    const result: SuiteResult = argv.quality ? await attentionQuality(suite, options, argv) : await suite.run({ ...options });
    if (result.skipped) {
      process.stdout.write(`skipped: ${result.skipped}\n`);
    } else {
      process.stdout.write(`${report.formatTable(result.rows, result.columns)}\n`);
      for (const n of result.notes ?? []) process.stdout.write(`note: ${n}\n`);
    }
    const payload = { machine: report.machineInfo(), date: new Date().toISOString(), suite: suite.name, ...result };
    writeFileSync(jsonPath, `${JSON.stringify(payload, null, 2)}\n`);
    process.stdout.write(`results written to ${jsonPath}\n`);
  },
};
