// The options of IndetailPipeline.load, checked before anything is read or loaded: unknown keys
// (with the closest known one suggested), types and values, each named.
import type { BackendName } from '../engine.js';
import { checkPredictionType } from '../models/family/prediction-type.js';
import type { PredictionType } from '../scheduler/index.js';
import { checkKnownKeys, keyTable } from '../known-keys.js';
import { checkPrecisionOption, type PrecisionOption } from '../precision.js';
import { invalid, show } from '../validate.js';

export interface PipelineLoadOptions {
  /** A diffusers Stable Diffusion 1.x / 2.x / XL folder, or a single-file .safetensors checkpoint. */
  model: string;
  /** For single-file checkpoints: a diffusers folder whose configs to use instead of the shipped ones of the model's family. */
  config?: string;
  /**
   * What the UNet predicts. Default: what the model says (a folder's scheduler config, a single
   * file's metadata), else its family's rule (SD 1.x epsilon, SD 2.x single files v_prediction);
   * `indetail info` shows the choice and why. Contradicting what the model says is an error.
   */
  predictionType?: PredictionType;
  /** A ControlNet (diffusers folder or .safetensors) for the structure-guided task. */
  controlnet?: string;
  /**
   * Benchmarks and memory tests: ignore checkpoint weights and use seeded random weights of the
   * shapes in `model` (a folder of diffusers configs; the shipped SD1.5 configs when `model` is
   * 'sd15'). The images are noise.
   */
  randomWeights?: number;
  /** 'auto' (default: CUDA when a usable GPU is present, else CPU), 'cpu', 'cuda' or 'cuda:<index>'. */
  backend?: 'auto' | BackendName;
  /**
   * 'auto' (default): bf16 on a CPU with AVX512-BF16 or AMX for full-size models, f32 on other
   * CPUs and for tiny models, f16 on CUDA. CPU: 'f32' | 'bf16'; CUDA: 'f16' | 'bf16' (see precision.ts).
   */
  precision?: PrecisionOption;
  /**
   * A VAE to use instead of the model's: a diffusers AutoencoderKL folder (e.g. SDXL's
   * fp16-fixed VAE, whose config says force_upcast false), or a .safetensors VAE file (diffusers
   * or original naming; read with the model's VAE config).
   */
  vae?: string;
  /**
   * Precision of the VAE, with the values of `precision` ('auto' = default: the models'
   * precision, except bf16 instead of f16 for a VAE that overflows in fp16: SDXL's, whose config
   * has force_upcast; see precision.ts).
   */
  vaePrecision?: PrecisionOption;
  /** Called with one-line notes (which backend was chosen and why). */
  onInfo?: (message: string) => void;
  /**
   * Called once when 'auto' falls back to the CPU because CUDA failed (no driver, driver too old,
   * unsupported GPU, failed self-test), with the reason. Default: one process.emitWarning per process.
   */
  onWarning?: (message: string) => void;
  /**
   * The image-prompt cache: calls with the same image, inversion prompt, steps and size reuse the
   * inversion and the image prompt's decoder self-attention keys/values, and leave the image
   * prompt out of the denoising batch (same output bits, less work). `false` disables it;
   * `{ maxBytes }` sets its budget (default: min(4 GiB, ¼ of the GPU's memory) on CUDA,
   * min(3 GiB, ⅛ of RAM) on the CPU). One SD1.5 entry at 512×512 and 50 steps holds 2.75 GB in
   * float32 (CPU), 1.38 GB in float16; steps are cached while the budget has room.
   */
  kvCache?: boolean | { maxBytes?: number };
  /**
   * CUDA graphs for the UNet steps (default true; see UNetLoadOptions.cudaGraphs): each step
   * whose shapes and attention policy were seen before is one graph launch. Same output bits.
   */
  cudaGraphs?: boolean;
}

/** Every key IndetailPipeline.load takes: the one list behind the unknown-key check and its suggestions. */
export const LOAD_OPTION_KEYS = keyTable<PipelineLoadOptions>({
  model: true,
  config: true,
  predictionType: true,
  controlnet: true,
  randomWeights: true,
  backend: true,
  precision: true,
  vae: true,
  vaePrecision: true,
  onInfo: true,
  onWarning: true,
  kvCache: true,
  cudaGraphs: true,
});

function checkPath(name: string, v: unknown, what: string): void {
  if (v !== undefined && (typeof v !== 'string' || v.length === 0)) invalid(`Expected ${what} for ${name} but received ${show(v)}`);
}

/**
 * Checks the options of IndetailPipeline.load without touching the file system: unknown keys
 * (with the closest known one suggested), types and values. Throws an IndetailError
 * (ERR_INDETAIL_INVALID_ARGUMENT) naming the option.
 */
export function validateLoadOptions(options: PipelineLoadOptions): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) invalid('Expected an options object with at least { model }');
  checkKnownKeys(options, LOAD_OPTION_KEYS, 'IndetailPipeline.load');
  if (options.model === undefined) invalid('Expected a model folder or .safetensors file for model but received nothing');
  checkPath('model', options.model, 'a model folder or .safetensors file');
  checkPath('config', options.config, 'a folder of diffusers configs');
  checkPath('controlnet', options.controlnet, 'a ControlNet folder or .safetensors file');
  if (options.predictionType !== undefined) checkPredictionType(options.predictionType);
  const r = options.randomWeights;
  if (r !== undefined && (typeof r !== 'number' || !Number.isSafeInteger(r) || r < 0)) invalid(`Expected a non-negative integer seed for randomWeights but received ${show(r)}`);
  const b = options.backend;
  if (b !== undefined && !(typeof b === 'string' && /^(auto|cpu|cuda(:\d+)?)$/.test(b))) {
    invalid(`Expected 'auto', 'cpu', 'cuda' or 'cuda:<index>' for backend but received ${show(b)}`);
  }
  checkPath('vae', options.vae, 'a VAE folder or .safetensors file');
  for (const name of ['precision', 'vaePrecision'] as const) {
    if (options[name] !== undefined) checkPrecisionOption(options[name], name);
  }
  for (const name of ['onInfo', 'onWarning'] as const) {
    if (options[name] !== undefined && typeof options[name] !== 'function') invalid(`Expected a function for ${name} but received ${show(options[name])}`);
  }
  if (options.cudaGraphs !== undefined && typeof options.cudaGraphs !== 'boolean') invalid(`Expected a boolean for cudaGraphs but received ${show(options.cudaGraphs)}`);
  const kv = options.kvCache;
  if (kv !== undefined && typeof kv !== 'boolean') {
    if (typeof kv !== 'object' || kv === null || Array.isArray(kv)) invalid(`Expected a boolean or { maxBytes } for kvCache but received ${show(kv)}`);
    checkKnownKeys(kv, ['maxBytes'], 'kvCache');
    const max = kv.maxBytes;
    if (max !== undefined && (typeof max !== 'number' || !Number.isFinite(max) || max < 0)) {
      invalid(`Expected a non-negative number of bytes for kvCache.maxBytes but received ${show(max)}`);
    }
  }
}

/** Where a model comes from: what the CLI commands, the worker and the evaluation pass on to load. */
export type ModelSource = Pick<PipelineLoadOptions, 'model' | 'config' | 'vae' | 'predictionType' | 'controlnet'>;

/** The given keys of a model source (undefined ones left out), to spread into load options. */
export function modelSourceOptions(o: { model: string } & { [K in Exclude<keyof ModelSource, 'model'>]?: ModelSource[K] | undefined }): ModelSource {
  return {
    model: o.model,
    ...(o.config !== undefined ? { config: o.config } : {}),
    ...(o.vae !== undefined ? { vae: o.vae } : {}),
    ...(o.predictionType !== undefined ? { predictionType: o.predictionType } : {}),
    ...(o.controlnet !== undefined ? { controlnet: o.controlnet } : {}),
  };
}
