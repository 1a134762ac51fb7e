// Validation of the options of a generation call: each message names the option and what is
// allowed, before any heavy work starts.
import { IndetailError } from '../errors.js';
import { checkTargetSize, type RgbImage, type TargetSize } from '../image/index.js';
import { checkKnownKeys, keyTable } from '../known-keys.js';
import { bool, intIn, invalid, numIn, oneOf, show, str } from '../validate.js';
import type { Seed } from '../random/index.js';
import {
  DEFAULT_CONTROL_SCALE,
  DEFAULT_LAMBDA_IMAGE,
  DEFAULT_LAMBDA_SELF,
  DEFAULT_NEGATIVE_PROMPT,
  DEFAULT_SAMPLES,
  MAX_SAMPLES,
  MAX_STEPS,
  PROMPT_SUFFIX,
  TASK_DEFAULTS,
  type Task,
} from './defaults.js';
import type { FamilyCallDefaults } from '../models/family/index.js';
import type { AttentionVariant, GuidanceMode } from './layout.js';
import type { GenerationTrace } from './trace.js';

/** A picture: a file path, encoded bytes (PNG/JPEG/WebP/TIFF), or raw RGB. */
export type ImageInput = string | Uint8Array | RgbImage;

export interface ProgressEvent {
  phase: 'encode' | 'inversion' | 'denoise' | 'decode';
  /** Steps done in this phase. */
  step: number;
  total: number;
  /** Seconds since the call started. */
  elapsed: number;
}

export interface GenerateOptions {
  /** The image prompt. */
  image: ImageInput;
  /** The text prompt (the quality suffix is appended, as in the reference). */
  prompt: string;
  /**
   * Appended to the prompt and to the inversion prompt (the reference's `use_prefix`). Default
   * ", best quality, extremely detailed."; another string replaces it, `false` appends nothing.
   */
  qualitySuffix?: string | false;
  /** Default "bad anatomy, bad hands, cropped, worst quality". */
  negativePrompt?: string;
  /** Prompt of the DDIM inversion; default: the prompt for variation, empty for cross/structure (the quality suffix is appended in both cases). */
  inversionPrompt?: string;
  /** Number of images to generate (default 1). */
  samples?: number;
  /** DDIM steps for inversion and generation (default 50). */
  steps?: number;
  /** Classifier-free guidance scale (default 7.5; 5 for structure). */
  guidanceScale?: number;
  /** Steps with Stratified Attention before KV concatenation (default 10; 25 for structure). */
  stratifiedSteps?: number;
  /** λ_P, the weight of the image prompt's attention in Stratified Attention (default 1). */
  lambdaImage?: number;
  /** λ_G, the weight of the generated image's own attention (default 1). */
  lambdaSelf?: number;
  /** 'conflict-free' (default, the method) or 'conflicting' (the baseline: the image prompt also guides the negative branch). */
  guidanceMode?: GuidanceMode;
  /** 'stratified' (default: stratified then concatenation), 'concat', 'replace', or 'none' (no image-prompt attention). */
  attention?: AttentionVariant;
  /** Output size: N (square) or { width, height }, multiples of 8 (default: the UNet's sample size × 8). */
  size?: TargetSize;
  /** Seed of the initial noise (default: random). */
  seed?: Seed;
  /** Injected initial noise, NHWC [samples, h/8, w/8, latent channels] (testing / reproducing other runs). */
  initialNoise?: Float32Array;
  /** Structure-guided: the control image (depth map, soft edges). */
  control?: ImageInput;
  /** Structure-guided: ControlNet conditioning scale (default 1). */
  controlScale?: number;
  /** Structure-guided: steps during which the negative branch gets no control (default 10). */
  controlGuidanceEndStep?: number;
  /** Also decode the image prompt's reconstruction (frame 0). */
  includeReconstruction?: boolean;
  /**
   * Cancels the call: checked between steps and, inside a step, between the UNet's blocks and the
   * VAE's blocks and tiles. The call rejects with ERR_INDETAIL_CANCELLED; the pipeline stays usable.
   */
  signal?: AbortSignal;
  /** Called after every step of every phase. */
  onProgress?: (event: ProgressEvent) => void;
  /**
   * Run sizes whose estimated cost is above the backend's limit (see the README, "Large
   * sizes"); by default such a call is refused before any work, with the estimate.
   */
  allowLargeSize?: boolean;
}

export type PipelineCallOptions = GenerateOptions & {
  /** Fill this object with intermediate tensors (golden tests, debugging). */
  trace?: GenerationTrace;
  /** false: neither read nor fill the pipeline's image-prompt cache in this call (default true). */
  kvCache?: boolean;
};

/** Every key a pipeline call takes: the one list behind the unknown-key check and its suggestions. */
export const CALL_OPTION_KEYS = keyTable<PipelineCallOptions>({
  image: true,
  prompt: true,
  qualitySuffix: true,
  negativePrompt: true,
  inversionPrompt: true,
  samples: true,
  steps: true,
  guidanceScale: true,
  stratifiedSteps: true,
  lambdaImage: true,
  lambdaSelf: true,
  guidanceMode: true,
  attention: true,
  size: true,
  seed: true,
  initialNoise: true,
  control: true,
  controlScale: true,
  controlGuidanceEndStep: true,
  includeReconstruction: true,
  signal: true,
  onProgress: true,
  allowLargeSize: true,
  trace: true,
  kvCache: true,
});

export interface ResolvedOptions {
  task: Task;
  image: ImageInput;
  prompt: string;
  /** '' when off. */
  qualitySuffix: string;
  negativePrompt: string;
  inversionPrompt: string;
  samples: number;
  steps: number;
  guidanceScale: number;
  stratifiedSteps: number;
  lambdaImage: number;
  lambdaSelf: number;
  guidanceMode: GuidanceMode;
  attention: AttentionVariant;
  width: number;
  height: number;
  seed: Seed;
  initialNoise?: Float32Array;
  control?: ImageInput;
  controlScale: number;
  controlGuidanceEndStep: number;
  includeReconstruction: boolean;
  signal?: AbortSignal;
  onProgress?: (event: ProgressEvent) => void;
  allowLargeSize: boolean;
  trace?: GenerationTrace;
  /** false: the call leaves the image-prompt cache alone. */
  kvCache: boolean;
}

/** What the options are checked against once a model is loaded. */
export interface ModelLimits {
  /** Output side when the call gives no size (the UNet's sample_size × 8). */
  defaultSize: number;
  latentChannels: number;
  /** Smallest latent side the UNet handles: 2^(levels - 1), and at least 2 (AdaIN's unbiased variance). */
  minLatentSide: number;
  /** The call defaults the model's family changes (SDXL: guidance 5.0). */
  familyDefaults: FamilyCallDefaults;
}

function checkImageInput(name: string, v: unknown): ImageInput {
  if (typeof v === 'string' && v.length > 0) return v;
  if (v instanceof Uint8Array && v.length > 0) return v;
  if (typeof v === 'object' && v !== null && 'data' in v && 'width' in v && 'height' in v) {
    const img = v as RgbImage;
    if (!(img.data instanceof Uint8Array) || !Number.isInteger(img.width) || !Number.isInteger(img.height) || img.width < 1 || img.height < 1 || img.data.length !== img.width * img.height * 3) {
      invalid(`Expected ${name}.data to hold width × height × 3 RGB bytes`);
    }
    return img;
  }
  invalid(`Expected a file path, image bytes or { data, width, height } RGB for ${name} but received ${show(v)}`);
}

function suffix(v: unknown): string {
  if (v === undefined) return PROMPT_SUFFIX;
  if (v === false) return '';
  if (typeof v !== 'string') invalid(`Expected a string or false for qualitySuffix but received ${show(v)}`);
  return v;
}

function randomSeed(): number {
  return Math.floor(Math.random() * 2 ** 32);
}

/** An explicit step count beyond `steps` is an error; the default is used as is (a default above `steps` covers every step). */
function stepsWithin(name: string, v: unknown, def: number, steps: number): number {
  if (v === undefined) return def;
  const n = intIn(name, v, 0, MAX_STEPS);
  if (n > steps) invalid(`Expected an integer from 0 to steps (${steps}) for ${name} but received ${n}`);
  return n;
}

function checkSeed(seed: unknown): Seed {
  if (!((typeof seed === 'number' && Number.isSafeInteger(seed) && seed >= 0) || (typeof seed === 'bigint' && seed >= 0n && seed < 2n ** 64n))) {
    invalid(`Expected a non-negative integer (or bigint below 2^64) for seed but received ${show(seed)}`);
  }
  return seed;
}

function checkNoise(v: unknown): Float32Array {
  if (!(v instanceof Float32Array)) invalid(`Expected a Float32Array for initialNoise but received ${show(v)}`);
  for (let i = 0; i < v.length; i++) {
    if (!Number.isFinite(v[i])) invalid(`Expected finite values in initialNoise but initialNoise[${i}] is ${v[i]}`);
  }
  return v;
}

function checkSize(size: TargetSize): { width: number; height: number } {
  try {
    return checkTargetSize(size);
  } catch (err) {
    invalid(`Invalid size: ${(err as Error).message}`);
  }
}

type CommonOptions = Omit<ResolvedOptions, 'width' | 'height'> & { size?: { width: number; height: number } };

/** Everything that does not depend on the model, but for the defaults its family changes (SDXL: guidance 5.0). */
function resolveCommon(task: Task, o: PipelineCallOptions, family: FamilyCallDefaults = {}): CommonOptions {
  if (typeof o !== 'object' || o === null || Array.isArray(o)) invalid(`Expected an options object but received ${show(o)}`);
  checkKnownKeys(o, CALL_OPTION_KEYS, `a ${task} call`);
  const d = TASK_DEFAULTS[task];
  const prompt = str('prompt', o.prompt);
  const steps = intIn('steps', o.steps ?? d.steps, 1, MAX_STEPS);
  const samples = intIn('samples', o.samples ?? DEFAULT_SAMPLES, 1, MAX_SAMPLES);
  const seed = o.seed === undefined ? randomSeed() : checkSeed(o.seed);
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) invalid(`Expected an AbortSignal for signal but received ${show(o.signal)}`);
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') invalid(`Expected a function for onProgress but received ${show(o.onProgress)}`);
  if (o.trace !== undefined && (typeof o.trace !== 'object' || Array.isArray(o.trace))) invalid(`Expected an object for trace but received ${show(o.trace)}`);
  const control = task === 'structure' ? checkImageInput('control', o.control) : undefined;
  if (task !== 'structure' && o.control !== undefined) invalid('control is only used by the structure-guided task');
  return {
    task,
    image: checkImageInput('image', o.image),
    prompt,
    qualitySuffix: suffix(o.qualitySuffix),
    negativePrompt: str('negativePrompt', o.negativePrompt ?? DEFAULT_NEGATIVE_PROMPT),
    inversionPrompt: str('inversionPrompt', o.inversionPrompt ?? (d.invertWithPrompt ? prompt : '')),
    samples,
    steps,
    guidanceScale: numIn('guidanceScale', o.guidanceScale ?? (task === 'structure' ? d.guidanceScale : (family.guidanceScale ?? d.guidanceScale)), 0, 100),
    stratifiedSteps: stepsWithin('stratifiedSteps', o.stratifiedSteps, d.stratifiedSteps, steps),
    lambdaImage: numIn('lambdaImage', o.lambdaImage ?? DEFAULT_LAMBDA_IMAGE, 0, 100),
    lambdaSelf: numIn('lambdaSelf', o.lambdaSelf ?? DEFAULT_LAMBDA_SELF, 0, 100),
    guidanceMode: oneOf('guidanceMode', o.guidanceMode ?? 'conflict-free', ['conflict-free', 'conflicting'] as const),
    attention: oneOf('attention', o.attention ?? 'stratified', ['stratified', 'concat', 'replace', 'none'] as const),
    ...(o.size !== undefined ? { size: checkSize(o.size) } : {}),
    seed,
    ...(o.initialNoise !== undefined ? { initialNoise: checkNoise(o.initialNoise) } : {}),
    ...(control !== undefined ? { control } : {}),
    controlScale: numIn('controlScale', o.controlScale ?? DEFAULT_CONTROL_SCALE, 0, 10),
    controlGuidanceEndStep: stepsWithin('controlGuidanceEndStep', o.controlGuidanceEndStep, d.controlGuidanceEndStep, steps),
    includeReconstruction: bool('includeReconstruction', o.includeReconstruction, false),
    ...(o.signal ? { signal: o.signal } : {}),
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
    allowLargeSize: bool('allowLargeSize', o.allowLargeSize, false),
    ...(o.trace ? { trace: o.trace } : {}),
    kvCache: bool('kvCache', o.kvCache, true),
  };
}

const TASKS: readonly Task[] = ['variation', 'cross', 'structure'];

/**
 * Checks the parameters of a pipeline call without a model and without doing any work: unknown
 * keys (with the closest known one suggested), types, ranges, the seed, injected noise. What
 * depends on the model (the size against the UNet, the noise's length, the cost limit) is checked
 * by the call itself. Throws an IndetailError (ERR_INDETAIL_INVALID_ARGUMENT) naming the option.
 */
export function validateCallOptions(task: Task, options: PipelineCallOptions): void {
  if (!TASKS.includes(task)) invalid(`Expected one of ${TASKS.map((t) => `'${t}'`).join(', ')} for task but received ${show(task)}`);
  resolveCommon(task, options);
}

export function resolveOptions(task: Task, o: PipelineCallOptions, model: ModelLimits): ResolvedOptions {
  const { size, ...common } = resolveCommon(task, o, model.familyDefaults);
  const { width, height } = size ?? checkSize(model.defaultSize);
  const min = model.minLatentSide * 8;
  if (width < min || height < min) {
    invalid(
      `Expected a size of at least ${min}x${min} for this model but received ${width}x${height}: its latent would be ${width / 8}x${height / 8}, ` +
        `and the UNet needs at least ${model.minLatentSide}x${model.minLatentSide} latent pixels`,
    );
  }
  if (common.initialNoise !== undefined) {
    const c = model.latentChannels;
    const want = common.samples * (height / 8) * (width / 8) * c;
    if (common.initialNoise.length !== want) {
      invalid(`Expected a Float32Array of ${want} values (NHWC [${common.samples}, ${height / 8}, ${width / 8}, ${c}]) for initialNoise but received ${common.initialNoise.length}`);
    }
  }
  return { ...common, width, height };
}
