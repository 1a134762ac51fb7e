// The public pipeline: load a model once, run any of the three tasks many times.
//
//   const pipe = await IndetailPipeline.load({ model: 'path/to/sd15' });
//   const { images } = await pipe.variation({ image: 'cat.png', prompt: 'a photograph of a cat', seed: 1 });
//   await writeFile('out.png', images[0].png);
//   pipe.dispose();
import { totalmem } from 'node:os';
import path from 'node:path';
import { Engine, type BackendName } from '../engine.js';
import { readConfigFile } from '../models/config-check.js';
import { IndetailError } from '../errors.js';
import { encodePng, floatToU8 } from '../image/index.js';
import { ControlNet } from '../models/controlnet.js';
import { locateControlNet, locateModel, locateVae, randomModel, shippedControlNetConfigDir, type ModelFiles } from '../models/model-files.js';
import { UNet } from '../models/unet.js';
import { VAE } from '../models/vae.js';
import { DDIMScheduler, referenceDdimConfig, type PredictionType } from '../scheduler/index.js';
import { probeCuda, resolveBackend } from '../backend-select.js';
import { devices } from '../system.js';
import { version } from '../version.js';
import type { Task } from './defaults.js';
import { generate } from './generate.js';
import { defaultKVCacheBudget, ImagePromptCache, type KVCacheStats, type KVCacheUse } from './kv-cache.js';
import { resolveOptions, type GenerateOptions, type ResolvedOptions } from './options.js';
import type { PipelineParts } from './parts.js';
import type { GenerationTrace } from './trace.js';

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
  /** CUDA storage precision (default 'f16'). */
  precision?: 'f16' | 'bf16';
  /**
   * A VAE to use instead of the model's: a diffusers AutoencoderKL folder (e.g. SDXL's
   * fp16-fixed VAE, whose config says force_upcast false), or a .safetensors VAE file (diffusers
   * or original naming; read with the model's VAE config).
   */
  vae?: string;
  /**
   * CUDA precision of the VAE (default: the engine's, except bf16 for a VAE that overflows in fp16:
   * SDXL's, whose config has force_upcast). Ignored on the CPU (f32).
   */
  vaePrecision?: 'f16' | 'bf16';
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

export interface GeneratedImage {
  /** PNG bytes with the generation parameters in a tEXt/iTXt chunk named "parameters". */
  png: Buffer;
  /** HxWx3 RGB. */
  rgb: Uint8Array;
  width: number;
  height: number;
  /** 0 = the image prompt's reconstruction, 1..samples = the generated images. */
  frame: number;
}

export interface GenerationResult {
  images: GeneratedImage[];
  reconstruction?: GeneratedImage;
  /** Every parameter of the call (also stored in each PNG), the seed included. */
  parameters: Record<string, unknown>;
  backend: string;
  timings: { encode: number; inversion: number; denoise: number; decode: number; total: number };
  /** What the call did with the image-prompt cache. */
  kvCache: KVCacheUse;
}

export type PipelineCallOptions = GenerateOptions & {
  /** Fill this object with intermediate tensors (golden tests, debugging). */
  trace?: GenerationTrace;
  /** false: neither read nor fill the pipeline's image-prompt cache in this call (default true). */
  kvCache?: boolean;
};

async function chooseBackend(options: PipelineLoadOptions): Promise<BackendName> {
  const requested = options.backend ?? 'auto';
  if (requested !== 'auto') return requested;
  await probeCuda(); // off the JavaScript thread; the synchronous choice below reuses its result
  return resolveBackend('auto', {
    ...(options.onInfo ? { onInfo: options.onInfo } : {}),
    ...(options.onWarning ? { onWarning: options.onWarning } : {}),
  });
}

/** Throws when the model's family cannot run `task` (SDXL: structure-guided), saying why. */
function refuseUnsupportedTask(files: ModelFiles, task: Task): void {
  const why = files.family.unsupportedTasks[task];
  if (why) throw new IndetailError('ERR_INDETAIL_UNSUPPORTED', `${files.path} is ${files.family.name}: ${why}`);
}

/**
 * The VAE (the model's, or options.vae), on an engine of its own precision where it needs one: on
 * CUDA a VAE whose family says it overflows in fp16 (SDXL's force_upcast) runs in bf16, and
 * options.vaePrecision overrides; on the CPU everything is f32. Pushes what it loads onto `loaded`.
 */
async function loadVae(engine: Engine, files: ModelFiles, options: PipelineLoadOptions, loaded: Array<{ dispose(): void }>): Promise<VAE> {
  const vp = options.vaePrecision;
  if (vp !== undefined && vp !== 'f16' && vp !== 'bf16') {
    throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `Expected 'f16' or 'bf16' for vaePrecision but received ${JSON.stringify(vp)}`);
  }
  const source = options.vae !== undefined ? await locateVae(options.vae, files.vae.config) : files.vae;
  const name = options.vae ?? files.path;
  let vaeEngine = engine;
  if (engine.device === 'cuda') {
    const want = vp ?? (files.family.vaeNeedsUpcast(source.config) ? 'bf16' : engine.computeDtype);
    if (want !== engine.computeDtype) {
      vaeEngine = new Engine({ backend: engine.backend as BackendName, precision: want as 'f16' | 'bf16' });
      loaded.push(vaeEngine);
    }
  }
  const vae = await VAE.load(vaeEngine, { config: source.config, weights: source.weights, source: `${name} VAE config` });
  loaded.push(vae);
  return vae;
}

function kvCacheBudget(option: PipelineLoadOptions['kvCache'], engine: Engine): number {
  if (option === false) return 0;
  if (option === undefined || option === true) {
    const cuda = engine.device === 'cuda' ? devices().find((d) => engine.backend === `cuda:${d.index}`) ?? devices()[0] : undefined;
    return Math.floor(defaultKVCacheBudget(engine.device, cuda ? cuda.totalMemory : totalmem()));
  }
  const max = typeof option === 'object' && option !== null ? option.maxBytes : undefined;
  if (max === undefined) return kvCacheBudget(true, engine);
  if (typeof max !== 'number' || !Number.isFinite(max) || max < 0) {
    throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `Expected a non-negative number of bytes for kvCache.maxBytes but received ${String(max)}`);
  }
  return Math.floor(max);
}

export class IndetailPipeline implements Disposable {
  readonly engine: Engine;
  readonly files: ModelFiles;
  /** @internal */
  readonly parts: PipelineParts;
  private readonly kvCache: ImagePromptCache | undefined;
  private disposedFlag = false;

  private constructor(engine: Engine, files: ModelFiles, parts: PipelineParts, kvCacheBytes: number) {
    this.engine = engine;
    this.files = files;
    this.parts = parts;
    this.kvCache = kvCacheBytes > 0 ? new ImagePromptCache(kvCacheBytes) : undefined;
  }

  static async load(options: PipelineLoadOptions): Promise<IndetailPipeline> {
    if (typeof options !== 'object' || options === null) {
      throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', 'Expected an options object with at least { model }');
    }
    const kvOption = options.kvCache;
    if (options.cudaGraphs !== undefined && typeof options.cudaGraphs !== 'boolean') {
      throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `Expected a boolean for cudaGraphs but received ${String(options.cudaGraphs)}`);
    }
    if (kvOption !== undefined && typeof kvOption !== 'boolean' && (typeof kvOption !== 'object' || kvOption === null)) {
      throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `Expected a boolean or { maxBytes } for kvCache but received ${String(kvOption)}`);
    }
    const locate = { predictionType: options.predictionType };
    const files =
      options.randomWeights !== undefined
        ? await randomModel(options.randomWeights, options.model === 'sd15' ? undefined : options.model, locate)
        : await locateModel(options.model, options.config, locate);
    const engine = new Engine({ backend: await chooseBackend(options), ...(options.precision ? { precision: options.precision } : {}) });
    const loaded: Array<{ dispose(): void }> = [engine];
    try {
      if (options.controlnet !== undefined) refuseUnsupportedTask(files, 'structure');
      const conditioner = await files.family.conditioning.load(engine, files.textEncoders);
      loaded.push(conditioner);
      const unet = await UNet.load(engine, { config: files.unet.config, weights: files.unet.weights, source: `${files.path} UNet config` }, { cudaGraphs: options.cudaGraphs ?? true });
      loaded.push(unet);
      const vae = await loadVae(engine, files, options, loaded);
      let controlnet: ControlNet | undefined;
      if (options.controlnet !== undefined && options.randomWeights !== undefined) {
        const config = await readConfigFile(path.join(options.controlnet === 'sd15' ? shippedControlNetConfigDir : options.controlnet, 'config.json'));
        controlnet = await ControlNet.load(engine, { config, weights: { random: options.randomWeights + 3 }, source: 'ControlNet config' });
        loaded.push(controlnet);
      } else if (options.controlnet !== undefined) {
        const cn = await locateControlNet(options.controlnet, unet.config.layers_per_block[0]!, files.family.controlnetConfigDir ?? shippedControlNetConfigDir);
        controlnet = await ControlNet.load(engine, { config: cn.config, weights: cn.weights, source: `${options.controlnet} ControlNet config` });
        loaded.push(controlnet);
      }
      // The reference hard-codes its DDIM configuration whatever the checkpoint ships, with the model's prediction type.
      const scheduler = new DDIMScheduler(referenceDdimConfig(files.prediction.type));
      const kvCacheBytes = kvCacheBudget(kvOption, engine);
      const parts = { engine, family: files.family, conditioner, unet, vae, scheduler, ...(controlnet ? { controlnet } : {}) };
      return new IndetailPipeline(engine, files, parts, kvCacheBytes);
    } catch (err) {
      for (const x of loaded.reverse()) x.dispose();
      throw err;
    }
  }

  get backend(): string {
    return this.engine.backend;
  }

  /** The image-prompt cache: budget, bytes held, entries, hits, misses, evictions, steps reused. */
  kvCacheStats(): KVCacheStats {
    return this.kvCache?.stats() ?? { enabled: false, budget: 0, bytes: 0, entries: 0, hits: 0, misses: 0, evictions: 0, reusedSteps: 0, recordedSteps: 0 };
  }

  /** Empties the image-prompt cache (entries in use by a running call are freed when it ends). */
  clearKVCache(): void {
    this.kvCache?.clear();
  }

  /** Image variation: new images like the image prompt, described by the prompt. */
  variation(options: PipelineCallOptions): Promise<GenerationResult> {
    return this.run('variation', options);
  }
  /** Cross-prompt generation: the prompt's content in the image prompt's style. */
  cross(options: PipelineCallOptions): Promise<GenerationResult> {
    return this.run('cross', options);
  }
  /** Structure-guided generation: the control image's structure (ControlNet), the image prompt's details. */
  structure(options: PipelineCallOptions): Promise<GenerationResult> {
    return this.run('structure', options);
  }

  private async run(task: Task, options: PipelineCallOptions): Promise<GenerationResult> {
    if (this.disposedFlag) throw new IndetailError('ERR_INDETAIL_DISPOSED', 'the pipeline is disposed');
    const { family } = this.parts;
    refuseUnsupportedTask(this.files, task);
    const unetCfg = this.parts.unet.config;
    const defaultSize = (unetCfg.sample_size ?? 64) * 8;
    const o = resolveOptions(task, options, defaultSize, unetCfg.in_channels, family.defaults);
    if (task === 'structure' && !this.parts.controlnet) {
      throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', 'the structure-guided task needs a ControlNet: load the pipeline with { controlnet }');
    }
    if (options.kvCache !== undefined && typeof options.kvCache !== 'boolean') {
      throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `Expected a boolean for kvCache but received ${String(options.kvCache)}`);
    }
    const out = await generate(this.parts, o, options.trace, options.kvCache === false ? undefined : this.kvCache);
    const parameters = describeCall(o, this.backend, this.files, this.parts.scheduler.config.predictionType);
    const text = { parameters: JSON.stringify(parameters), Software: `indetail ${version}` };
    const pixels = o.width * o.height * 3;
    const images: GeneratedImage[] = [];
    let reconstruction: GeneratedImage | undefined;
    for (let k = 0; k < out.frames.length; k++) {
      const rgb = floatToU8(out.decoded.subarray(k * pixels, (k + 1) * pixels));
      const frame = out.frames[k]!;
      const img = { png: await encodePng(rgb, o.width, o.height, { text: { ...text, frame: String(frame) } }), rgb, width: o.width, height: o.height, frame };
      if (frame === 0) reconstruction = img;
      else images.push(img);
    }
    return { images, ...(reconstruction ? { reconstruction } : {}), parameters, backend: this.backend, timings: out.timings, kvCache: out.kvCache };
  }

  dispose(): void {
    if (this.disposedFlag) return;
    this.disposedFlag = true;
    this.kvCache?.clear();
    this.parts.controlnet?.dispose();
    this.parts.vae.dispose();
    if (this.parts.vae.engine !== this.engine) this.parts.vae.engine.dispose();
    this.parts.unet.dispose();
    this.parts.conditioner.dispose();
    this.engine.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}

function describeCall(o: ResolvedOptions, backend: string, files: ModelFiles, predictionType: PredictionType): Record<string, unknown> {
  return {
    task: o.task,
    model: files.path,
    family: files.family.id,
    predictionType,
    prompt: o.prompt,
    qualitySuffix: o.qualitySuffix === '' ? false : o.qualitySuffix,
    negativePrompt: o.negativePrompt,
    inversionPrompt: o.inversionPrompt,
    samples: o.samples,
    steps: o.steps,
    guidanceScale: o.guidanceScale,
    stratifiedSteps: o.stratifiedSteps,
    lambdaImage: o.lambdaImage,
    lambdaSelf: o.lambdaSelf,
    guidanceMode: o.guidanceMode,
    attention: o.attention,
    width: o.width,
    height: o.height,
    seed: o.initialNoise ? 'injected noise' : String(o.seed),
    ...(o.task === 'structure' ? { controlScale: o.controlScale, controlGuidanceEndStep: o.controlGuidanceEndStep } : {}),
    backend,
    indetail: version,
  };
}
