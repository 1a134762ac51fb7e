// The one adapter between serving and the library's option validation: which generation options a
// job carries (JSON, as sent to POST /v1/jobs), how they are checked (by the library's own
// validateCallOptions, on placeholder images, doing no work) and how a worker turns them back into call
// options.
import { randomInt } from 'node:crypto';
import { closestKey } from '../known-keys.js';
import { IndetailError } from '../errors.js';
import type { Task } from '../pipeline/defaults.js';
import { validateCallOptions, type GenerateOptions } from '../pipeline/options.js';

export const JOB_TASKS: readonly Task[] = ['variation', 'cross', 'structure'];

/** The generation options a job may set (the library's names); images travel as multipart files. */
export const JOB_OPTION_KEYS = [
  'prompt',
  'qualitySuffix',
  'negativePrompt',
  'inversionPrompt',
  'samples',
  'steps',
  'guidanceScale',
  'stratifiedSteps',
  'lambdaImage',
  'lambdaSelf',
  'guidanceMode',
  'attention',
  'size',
  'seed',
  'controlScale',
  'controlGuidanceEndStep',
  'includeReconstruction',
] as const;

type JobOptionKey = (typeof JOB_OPTION_KEYS)[number];

/** A job's validated parameters: the task and the options, the seed fixed (decimal string) so that a retried job repeats the same images. */
export type JobParameters = { task: Task; seed: string } & Partial<Record<Exclude<JobOptionKey, 'seed'>, unknown>>;

export interface ParameterLimits {
  /** Most images one job may ask for. */
  maxSamples: number;
}

function invalid(message: string): never {
  throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', message);
}

function seedOf(v: unknown): string {
  if (v === undefined) return String(randomInt(2 ** 32));
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return String(v);
  if (typeof v === 'string' && /^\d{1,20}$/.test(v) && BigInt(v) < 2n ** 64n) return String(BigInt(v));
  invalid(`Expected a non-negative integer below 2^64 (a number, or a string of digits) for seed but received ${JSON.stringify(v)}`);
}

function seedValue(seed: string): number | bigint {
  const b = BigInt(seed);
  return b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
}

const PLACEHOLDER_IMAGE = new Uint8Array(1);

function validateWithLibrary(task: Task, options: GenerateOptions): void {
  // What depends on the model (size against the UNet, cost) is checked by the worker's call.
  validateCallOptions(task, options);
}

/**
 * Checks the JSON parameters of a job (an object with `task` and the generation options) and
 * returns them normalised. Throws ERR_INDETAIL_INVALID_ARGUMENT naming the offending field.
 */
export function parseJobParameters(raw: unknown, limits: ParameterLimits): JobParameters {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) invalid('Expected the parameters to be a JSON object such as {"task": "variation", "prompt": "a cat"}');
  const o = raw as Record<string, unknown>;
  const allowed = new Set<string>(['task', ...JOB_OPTION_KEYS]);
  for (const key of Object.keys(o)) {
    if (key === 'image' || key === 'control') invalid(`${key} is not a parameter: send it as a multipart file field named "${key}"`);
    if (!allowed.has(key)) {
      const near = closestKey(key, [...allowed]);
      invalid(`Unknown parameter ${JSON.stringify(key)}${near ? ` (did you mean ${JSON.stringify(near)}?)` : ''}; allowed: ${[...allowed].join(', ')}`);
    }
  }
  if (!JOB_TASKS.includes(o.task as Task)) invalid(`Expected one of ${JOB_TASKS.map((t) => `'${t}'`).join(', ')} for task but received ${JSON.stringify(o.task)}`);
  const task = o.task as Task;
  if (o.samples !== undefined && typeof o.samples === 'number' && o.samples > limits.maxSamples) {
    invalid(`Expected at most ${limits.maxSamples} for samples (this server's limit) but received ${o.samples}`);
  }
  const params: JobParameters = { task, seed: seedOf(o.seed) };
  for (const key of JOB_OPTION_KEYS) {
    if (key !== 'seed' && o[key] !== undefined) params[key] = o[key];
  }
  validateWithLibrary(task, { ...callOptions(params), image: PLACEHOLDER_IMAGE, ...(task === 'structure' ? { control: PLACEHOLDER_IMAGE } : {}) });
  return params;
}

/** The call options of a job, without its images. */
export function callOptions(params: JobParameters): Omit<GenerateOptions, 'image'> {
  const out: Record<string, unknown> = {};
  for (const key of JOB_OPTION_KEYS) {
    if (key !== 'seed' && params[key] !== undefined) out[key] = params[key];
  }
  return { ...(out as Omit<GenerateOptions, 'image' | 'seed'>), seed: seedValue(params.seed) } as Omit<GenerateOptions, 'image'>;
}
