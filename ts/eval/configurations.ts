// The configurations an evaluation compares: attention variant, λ_P / λ_G, Stratified steps,
// guidance mode, steps, guidance scale, seeds and samples per seed. From a JSON file
// ([{ "name": "stratified", "attention": "stratified", "seeds": [1, 2] }, ...] or
// { "configurations": [...] }) or from command-line flags. Values are checked by the pipeline's
// own option rules (pipeline/options.ts) before any work starts.
import { readFile } from 'node:fs/promises';
import { IndetailError } from '../errors.js';
import { DEFAULT_LAMBDA_IMAGE, DEFAULT_LAMBDA_SELF } from '../pipeline/defaults.js';
import type { AttentionVariant, GuidanceMode } from '../pipeline/layout.js';
import { validateCallOptions } from '../pipeline/options.js';
import { SAFE_NAME } from './manifest.js';

export interface EvalConfiguration {
  /** Names the configuration in the report and its output folder. */
  name: string;
  attention: AttentionVariant;
  lambdaImage: number;
  lambdaSelf: number;
  /** Steps with Stratified Attention; undefined: the task's default (10; 25 for structure). */
  stratifiedSteps?: number;
  guidanceMode: GuidanceMode;
  steps: number;
  /** Undefined: the task's default (7.5; 5 for structure). */
  guidanceScale?: number;
  /** One generation of `samples` images per seed and prompt. */
  seeds: number[];
  samples: number;
}

/** Samples per image prompt and seed: the paper reports its scores over 4. */
export const DEFAULT_EVAL_SAMPLES = 4;
export const DEFAULT_EVAL_STEPS = 50;

const FIELDS = ['name', 'attention', 'lambdaImage', 'lambdaSelf', 'stratifiedSteps', 'guidanceMode', 'steps', 'guidanceScale', 'seeds', 'samples'];

export type ConfigurationInput = Partial<EvalConfiguration>;

function invalid(message: string): never {
  throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', message);
}

function defaultName(c: Omit<EvalConfiguration, 'name'>): string {
  const parts: string[] = [c.attention];
  if (c.lambdaImage !== DEFAULT_LAMBDA_IMAGE || c.lambdaSelf !== DEFAULT_LAMBDA_SELF) parts.push(`lp${c.lambdaImage}-lg${c.lambdaSelf}`);
  if (c.stratifiedSteps !== undefined) parts.push(`k${c.stratifiedSteps}`);
  if (c.guidanceMode !== 'conflict-free') parts.push(c.guidanceMode);
  if (c.steps !== DEFAULT_EVAL_STEPS) parts.push(`s${c.steps}`);
  if (c.guidanceScale !== undefined) parts.push(`g${c.guidanceScale}`);
  return parts.join('-');
}

/** One configuration with defaults filled in and every value checked; `where` names it in messages. */
export function checkConfiguration(input: ConfigurationInput, where: string): EvalConfiguration {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) invalid(`${where} must be an object`);
  const unknown = Object.keys(input).find((k) => !FIELDS.includes(k));
  if (unknown !== undefined) invalid(`${where} has an unknown field '${unknown}' (fields: ${FIELDS.join(', ')})`);
  const seeds = input.seeds ?? [0];
  if (!Array.isArray(seeds) || seeds.length === 0 || !seeds.every((s) => Number.isSafeInteger(s) && s >= 0)) {
    invalid(`${where}: Expected a non-empty list of non-negative integers for seeds but received ${JSON.stringify(input.seeds)}`);
  }
  if (new Set(seeds).size !== seeds.length) invalid(`${where}: seeds ${JSON.stringify(seeds)} repeat a seed`);
  const c: Omit<EvalConfiguration, 'name'> = {
    attention: input.attention ?? 'stratified',
    lambdaImage: input.lambdaImage ?? DEFAULT_LAMBDA_IMAGE,
    lambdaSelf: input.lambdaSelf ?? DEFAULT_LAMBDA_SELF,
    ...(input.stratifiedSteps !== undefined ? { stratifiedSteps: input.stratifiedSteps } : {}),
    guidanceMode: input.guidanceMode ?? 'conflict-free',
    steps: input.steps ?? DEFAULT_EVAL_STEPS,
    ...(input.guidanceScale !== undefined ? { guidanceScale: input.guidanceScale } : {}),
    seeds,
    samples: input.samples ?? DEFAULT_EVAL_SAMPLES,
  };
  try {
    // The pipeline's own checks of these values (a placeholder image: pictures are checked when read).
    const { seeds: _seeds, ...call } = c;
    validateCallOptions('variation', { image: '-', prompt: '', ...call, seed: seeds[0]! });
  } catch (err) {
    invalid(`${where}: ${(err as Error).message}`);
  }
  const name = input.name ?? defaultName(c);
  if (typeof name !== 'string' || !SAFE_NAME.test(name)) {
    invalid(`${where}: name ${JSON.stringify(name)} must be 1 to 64 letters, digits, '.', '_' or '-' (it names an output folder)`);
  }
  return { name, ...c };
}

/** Checks a list of configurations (names must differ). */
export function checkConfigurations(list: readonly ConfigurationInput[], source: string): EvalConfiguration[] {
  if (!Array.isArray(list) || list.length === 0) invalid(`${source}: Expected at least one configuration`);
  const out = list.map((c, i) => checkConfiguration(c, `${source} configuration ${i + 1}${c?.name ? ` (${c.name})` : ''}`));
  const seen = new Set<string>();
  for (const c of out) {
    if (seen.has(c.name)) invalid(`${source}: two configurations are named '${c.name}'; give them distinct names`);
    seen.add(c.name);
  }
  return out;
}

/** A JSON file of configurations: a list, or { "configurations": [...] }. */
export async function readConfigurations(file: string): Promise<EvalConfiguration[]> {
  let value: unknown;
  try {
    value = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new IndetailError(code ? 'ERR_INDETAIL_IO' : 'ERR_INDETAIL_BAD_FILE', `cannot read the configurations ${file}: ${(err as Error).message}`, { cause: err });
  }
  const list = Array.isArray(value) ? value : (value as { configurations?: unknown } | null)?.configurations;
  if (!Array.isArray(list)) throw new IndetailError('ERR_INDETAIL_BAD_FILE', `${file}: expected a list of configurations, or { "configurations": [...] }`);
  return checkConfigurations(list as ConfigurationInput[], file);
}
