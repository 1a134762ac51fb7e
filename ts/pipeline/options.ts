// Validation of the options of a generation call: each message names the option and what is
// allowed, before any heavy work starts.
import { IndetailError } from '../errors.js';
import { checkTargetSize, type RgbImage, type TargetSize } from '../image/index.js';
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
  /** Cancels between steps; the pipeline stays usable. */
  signal?: AbortSignal;
  /** Called after every step of every phase. */
  onProgress?: (event: ProgressEvent) => void;
}

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
}

function invalid(message: string): never {
  throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', message);
}

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'bigint') return `${v}n`;
  if (v instanceof Uint8Array) return 'a byte array';
  if (typeof v === 'object' && v !== null) return Array.isArray(v) ? 'an array' : 'an object';
  return String(v);
}

function intIn(name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) invalid(`Expected an integer between ${min} and ${max} for ${name} but received ${show(v)}`);
  return v;
}

function numIn(name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) invalid(`Expected a number between ${min} and ${max} for ${name} but received ${show(v)}`);
  return v;
}

function str(name: string, v: unknown): string {
  if (typeof v !== 'string') invalid(`Expected a string for ${name} but received ${show(v)}`);
  return v;
}

function suffix(v: unknown): string {
  if (v === undefined) return PROMPT_SUFFIX;
  if (v === false) return '';
  if (typeof v !== 'string') invalid(`Expected a string or false for qualitySuffix but received ${show(v)}`);
  return v;
}

function oneOf<T extends string>(name: string, v: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(v as T)) invalid(`Expected one of ${allowed.map((a) => `'${a}'`).join(', ')} for ${name} but received ${show(v)}`);
  return v as T;
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

function randomSeed(): number {
  return Math.floor(Math.random() * 2 ** 32);
}

/**
 * Checks a call's options and fills in the defaults: the method's (defaults.ts), the model's size
 * and latent channels, and what its family changes (SDXL: guidance 5.0).
 */
export function resolveOptions(task: Task, o: GenerateOptions, defaultSize: number, latentChannels: number, family: FamilyCallDefaults = {}): ResolvedOptions {
  if (typeof o !== 'object' || o === null) invalid('Expected an options object');
  const d = TASK_DEFAULTS[task];
  const prompt = str('prompt', o.prompt);
  const steps = intIn('steps', o.steps ?? d.steps, 1, MAX_STEPS);
  const samples = intIn('samples', o.samples ?? DEFAULT_SAMPLES, 1, MAX_SAMPLES);
  const { width, height } = (() => {
    try {
      return checkTargetSize(o.size ?? defaultSize);
    } catch (err) {
      invalid(`Invalid size: ${(err as Error).message}`);
    }
  })();
  const seed = o.seed ?? randomSeed();
  if (!((typeof seed === 'number' && Number.isSafeInteger(seed) && seed >= 0) || (typeof seed === 'bigint' && seed >= 0n && seed < 2n ** 64n))) {
    invalid(`Expected a non-negative integer (or bigint below 2^64) for seed but received ${show(seed)}`);
  }
  if (o.initialNoise !== undefined) {
    const want = samples * (height / 8) * (width / 8) * latentChannels;
    if (!(o.initialNoise instanceof Float32Array) || o.initialNoise.length !== want) {
      invalid(`Expected a Float32Array of ${want} values (NHWC [${samples}, ${height / 8}, ${width / 8}, ${latentChannels}]) for initialNoise`);
    }
  }
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) invalid(`Expected an AbortSignal for signal but received ${show(o.signal)}`);
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') invalid(`Expected a function for onProgress but received ${show(o.onProgress)}`);
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
    stratifiedSteps: intIn('stratifiedSteps', o.stratifiedSteps ?? d.stratifiedSteps, 0, MAX_STEPS),
    lambdaImage: numIn('lambdaImage', o.lambdaImage ?? DEFAULT_LAMBDA_IMAGE, 0, 100),
    lambdaSelf: numIn('lambdaSelf', o.lambdaSelf ?? DEFAULT_LAMBDA_SELF, 0, 100),
    guidanceMode: oneOf('guidanceMode', o.guidanceMode ?? 'conflict-free', ['conflict-free', 'conflicting'] as const),
    attention: oneOf('attention', o.attention ?? 'stratified', ['stratified', 'concat', 'replace', 'none'] as const),
    width,
    height,
    seed,
    ...(o.initialNoise ? { initialNoise: o.initialNoise } : {}),
    ...(control !== undefined ? { control } : {}),
    controlScale: numIn('controlScale', o.controlScale ?? DEFAULT_CONTROL_SCALE, 0, 10),
    controlGuidanceEndStep: intIn('controlGuidanceEndStep', o.controlGuidanceEndStep ?? d.controlGuidanceEndStep, 0, MAX_STEPS),
    includeReconstruction: o.includeReconstruction === true,
    ...(o.signal ? { signal: o.signal } : {}),
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
  };
}
