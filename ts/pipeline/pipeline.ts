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
import { CLIPTextEncoder } from '../models/clip-text.js';
import { locateControlNet, locateModel, randomModel, shippedControlNetConfigDir, type ModelFiles } from '../models/model-files.js';
import { UNet } from '../models/unet.js';
import { VAE } from '../models/vae.js';
import { REFERENCE_DDIM_CONFIG, DDIMScheduler } from '../scheduler/index.js';
import { probeCuda, resolveBackend } from '../backend-select.js';
import { devices } from '../system.js';
import { isFullSizeModel, resolvePrecision, type Precision, type PrecisionOption } from '../precision.js';
import { normalizeUNetConfig } from '../models/unet-config.js';
import { CLIPTokenizer } from '../text/tokenizer.js';
import { version } from '../version.js';
import type { Task } from './defaults.js';
import { generate } from './generate.js';
import { defaultKVCacheBudget, ImagePromptCache, type KVCacheStats, type KVCacheUse } from './kv-cache.js';
import { resolveOptions, type GenerateOptions, type ResolvedOptions } from './options.js';
import type { PipelineParts } from './parts.js';
import type { GenerationTrace } from './trace.js';

export interface PipelineLoadOptions {
  /** A diffusers Stable Diffusion 1.x folder, or a single-file .safetensors checkpoint. */
  model: string;
  /** For single-file checkpoints: a diffusers folder whose configs to use instead of the shipped SD1.5 ones. */
  config?: string;
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
   * CPUs and for tiny models, f16 on CUDA. CPU: 'f32' | 'bf16'; CUDA: 'f16' | 'bf16'.
   */
  precision?: PrecisionOption;
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
    const files =
      options.randomWeights !== undefined
        ? await randomModel(options.randomWeights, options.model === 'sd15' ? undefined : options.model)
        : await locateModel(options.model, options.config);
    const backend = await chooseBackend(options);
    const precision = resolvePrecision(options.precision ?? 'auto', backend === 'cpu' ? 'cpu' : 'cuda', {
      fullSize: isFullSizeModel(normalizeUNetConfig(files.unet.config).block_out_channels),
    });
    const engine = new Engine({ backend, precision });
    const loaded: Array<{ dispose(): void }> = [engine];
    try {
      const tokenizer = await CLIPTokenizer.fromFolder(files.tokenizerDir);
      const textEncoder = await CLIPTextEncoder.load(engine, { config: files.textEncoder.config, weights: files.textEncoder.weights, configSource: `${files.path} text encoder config` });
      loaded.push(textEncoder);
      const unet = await UNet.load(engine, { config: files.unet.config, weights: files.unet.weights, source: `${files.path} UNet config` }, { cudaGraphs: options.cudaGraphs ?? true });
      loaded.push(unet);
      const vae = await VAE.load(engine, { config: files.vae.config, weights: files.vae.weights, source: `${files.path} VAE config` });
      loaded.push(vae);
      let controlnet: ControlNet | undefined;
      if (options.controlnet !== undefined && options.randomWeights !== undefined) {
        const config = await readConfigFile(path.join(options.controlnet === 'sd15' ? shippedControlNetConfigDir : options.controlnet, 'config.json'));
        controlnet = await ControlNet.load(engine, { config, weights: { random: options.randomWeights + 3 }, source: 'ControlNet config' });
        loaded.push(controlnet);
      } else if (options.controlnet !== undefined) {
        const cn = await locateControlNet(options.controlnet, unet.config.layers_per_block[0]!);
        controlnet = await ControlNet.load(engine, { config: cn.config, weights: cn.weights, source: `${options.controlnet} ControlNet config` });
        loaded.push(controlnet);
      }
      // The reference hard-codes this DDIM configuration whatever the checkpoint ships.
      const scheduler = new DDIMScheduler(REFERENCE_DDIM_CONFIG);
      const kvCacheBytes = kvCacheBudget(kvOption, engine);
      return new IndetailPipeline(engine, files, { engine, tokenizer, textEncoder, unet, vae, scheduler, ...(controlnet ? { controlnet } : {}) }, kvCacheBytes);
    } catch (err) {
      for (const x of loaded.reverse()) x.dispose();
      throw err;
    }
  }

  get backend(): string {
    return this.engine.backend;
  }

  /** The precision the models compute in ('f32' / 'bf16' on the CPU, 'f16' / 'bf16' on CUDA). */
  get precision(): Precision {
    return this.engine.precision;
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
    const unetCfg = this.parts.unet.config;
    const defaultSize = (unetCfg.sample_size ?? 64) * 8;
    const o = resolveOptions(task, options, defaultSize, unetCfg.in_channels);
    if (task === 'structure' && !this.parts.controlnet) {
      throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', 'the structure-guided task needs a ControlNet: load the pipeline with { controlnet }');
    }
    if (options.kvCache !== undefined && typeof options.kvCache !== 'boolean') {
      throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `Expected a boolean for kvCache but received ${String(options.kvCache)}`);
    }
    const out = await generate(this.parts, o, options.trace, options.kvCache === false ? undefined : this.kvCache);
    const parameters = describeCall(o, this.backend, this.files.path);
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
    this.parts.unet.dispose();
    this.parts.textEncoder.dispose();
    this.engine.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}

function describeCall(o: ResolvedOptions, backend: string, model: string): Record<string, unknown> {
  return {
    task: o.task,
    model,
    prompt: o.prompt,
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
