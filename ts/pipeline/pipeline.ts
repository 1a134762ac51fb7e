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
import { locateControlNet, locateModel, locateVae, randomModel, shippedControlNetConfigDir, type ComponentFiles, type LocateOptions, type ModelFiles } from '../models/model-files.js';
import { UNet } from '../models/unet.js';
import { defaultImageSide, normalizeUNetConfig, type UNetConfig } from '../models/unet-config.js';
import type { ModelFamily } from '../models/family/index.js';
import { VAE } from '../models/vae.js';
import { DDIMScheduler, referenceDdimConfig, type PredictionType } from '../scheduler/index.js';
import { probeCuda, resolveBackend } from '../backend-select.js';
import { devices } from '../system.js';
import { pipelinePrecisions, type PipelinePrecisions, type Precision } from '../precision.js';
import { version } from '../version.js';
import type { Task } from './defaults.js';
import { generate } from './generate.js';
import { defaultKVCacheBudget, ImagePromptCache, type KVCacheStats, type KVCacheUse } from './kv-cache.js';
import { checkCallCost } from './cost.js';
import { validateLoadOptions, type PipelineLoadOptions } from './load-options.js';
import { resolveOptions, validateCallOptions, type ModelLimits, type PipelineCallOptions, type ResolvedOptions } from './options.js';
import type { PipelineParts } from './parts.js';

export type { PipelineCallOptions } from './options.js';
export type { PipelineLoadOptions } from './load-options.js';

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

/** What a call's options are checked against: the UNet's default and smallest sizes, its latent channels, its family's defaults. */
function modelLimits(unet: UNetConfig, family: ModelFamily): ModelLimits {
  return {
    defaultSize: defaultImageSide(unet),
    latentChannels: unet.in_channels,
    minLatentSide: Math.max(2, 2 ** (unet.block_out_channels.length - 1)),
    familyDefaults: family.defaults,
  };
}

/** What a call runs on: the model (its files and UNet config), the device, and whether a ControlNet is loaded. */
interface CallTarget {
  files: ModelFiles;
  unet: UNetConfig;
  device: 'cpu' | 'cuda';
  hasControlNet: boolean;
}

/** Throws when the model's family cannot run `task` (SDXL: structure-guided), saying why. */
function refuseUnsupportedTask(files: ModelFiles, task: Task): void {
  const why = files.family.unsupportedTasks[task];
  if (why) throw new IndetailError('ERR_INDETAIL_UNSUPPORTED', `${files.path} is ${files.family.name}: ${why}`);
}

/**
 * The call's options resolved against the model, refused when its family cannot run the task or
 * when the size costs too much for the device.
 */
function resolveForModel(task: Task, options: PipelineCallOptions, t: CallTarget): ResolvedOptions {
  refuseUnsupportedTask(t.files, task);
  const o = resolveOptions(task, options, modelLimits(t.unet, t.files.family));
  if (task === 'structure' && !t.hasControlNet) {
    throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', 'the structure-guided task needs a ControlNet: load the pipeline with { controlnet }');
  }
  checkCallCost(t.unet, o, t.device);
  return o;
}

async function chooseBackend(options: PipelineLoadOptions): Promise<BackendName> {
  const requested = options.backend ?? 'auto';
  if (requested !== 'auto') return requested;
  await probeCuda(); // off the JavaScript thread; the synchronous choice below reuses its result
  return resolveBackend('auto', {
    ...(options.onInfo ? { onInfo: options.onInfo } : {}),
    ...(options.onWarning ? { onWarning: options.onWarning } : {}),
  });
}

/** The VAE's files and the name its messages use: options.vae's (located, so a bad path fails before any weights load), else the model's. */
async function vaeFiles(files: ModelFiles, options: PipelineLoadOptions): Promise<ComponentFiles & { name: string }> {
  if (options.vae === undefined) return { ...files.vae, name: files.path };
  return { ...(await locateVae(options.vae, files.vae.config)), name: options.vae };
}

/** The precisions of the pipeline's models on `device`, by the one rule of precision.ts. */
function precisionsFor(options: PipelineLoadOptions, device: 'cpu' | 'cuda', unet: UNetConfig, family: ModelFamily, vae: ComponentFiles): PipelinePrecisions {
  return pipelinePrecisions(options, device, { unetBlockOutChannels: unet.block_out_channels, vaeNeedsUpcast: family.vaeNeedsUpcast(vae.config) });
}

/**
 * The VAE in `precision`: on `engine` when that is its precision, else on an engine of its own on
 * the same device (SDXL's VAE in bf16 next to an f16 UNet). Pushes what it loads onto `loaded`.
 */
async function loadVae(engine: Engine, source: ComponentFiles & { name: string }, precision: Precision, loaded: Array<{ dispose(): void }>): Promise<VAE> {
  let vaeEngine = engine;
  if (precision !== engine.precision) {
    vaeEngine = new Engine({ backend: engine.backend as BackendName, precision });
    loaded.push(vaeEngine);
  }
  const vae = await VAE.load(vaeEngine, { config: source.config, weights: source.weights, source: `${source.name} VAE config` });
  loaded.push(vae);
  return vae;
}

function locate(options: PipelineLoadOptions): LocateOptions {
  return { predictionType: options.predictionType };
}

function modelFiles(options: PipelineLoadOptions): Promise<ModelFiles> {
  return options.randomWeights !== undefined
    ? randomModel(options.randomWeights, options.model === 'sd15' ? undefined : options.model, locate(options))
    : locateModel(options.model, options.config, locate(options));
}

function kvCacheBudget(option: PipelineLoadOptions['kvCache'], engine: Engine): number {
  if (option === false) return 0;
  if (option === undefined || option === true) {
    const cuda = engine.device === 'cuda' ? devices().find((d) => engine.backend === `cuda:${d.index}`) ?? devices()[0] : undefined;
    return Math.floor(defaultKVCacheBudget(engine.device, cuda ? cuda.totalMemory : totalmem()));
  }
  const max = option.maxBytes; // checked by validateLoadOptions
  return max === undefined ? kvCacheBudget(true, engine) : Math.floor(max);
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

  /**
   * Checks everything a call would refuse before any work, without loading weights: the load
   * options, the call's options, and those against the model's configs (size, injected noise),
   * its family (tasks it cannot run) and the backend (the cost limit). Reads only the model's
   * (and a separate VAE's) config files and headers; throws the error the call would throw.
   */
  static async validateCall(load: PipelineLoadOptions, task: Task, options: PipelineCallOptions): Promise<void> {
    validateLoadOptions(load);
    validateCallOptions(task, options);
    const files = await modelFiles(load);
    const unet = normalizeUNetConfig(files.unet.config, `${files.path} UNet config`);
    const requested = load.backend ?? 'auto';
    const device = requested === 'auto' ? ((await probeCuda()) === '' ? 'cuda' : 'cpu') : requested === 'cpu' ? 'cpu' : 'cuda';
    if (load.controlnet !== undefined) refuseUnsupportedTask(files, 'structure');
    precisionsFor(load, device, unet, files.family, await vaeFiles(files, load));
    resolveForModel(task, options, { files, unet, device, hasControlNet: load.controlnet !== undefined });
  }

  static async load(options: PipelineLoadOptions): Promise<IndetailPipeline> {
    validateLoadOptions(options);
    const kvOption = options.kvCache;
    const files = await modelFiles(options);
    if (options.controlnet !== undefined) refuseUnsupportedTask(files, 'structure');
    const vaeSource = await vaeFiles(files, options);
    const backend = await chooseBackend(options);
    const unetConfig = normalizeUNetConfig(files.unet.config, `${files.path} UNet config`);
    const precision = precisionsFor(options, backend === 'cpu' ? 'cpu' : 'cuda', unetConfig, files.family, vaeSource);
    const engine = new Engine({ backend, precision: precision.models });
    const loaded: Array<{ dispose(): void }> = [engine];
    try {
      const conditioner = await files.family.conditioning.load(engine, files.textEncoders);
      loaded.push(conditioner);
      const unet = await UNet.load(engine, { config: files.unet.config, weights: files.unet.weights, source: `${files.path} UNet config` }, { cudaGraphs: options.cudaGraphs ?? true });
      loaded.push(unet);
      const vae = await loadVae(engine, vaeSource, precision.vae, loaded);
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
      // The reference hard-codes this DDIM configuration whatever the checkpoint ships.
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

  /** The precision the text encoders, UNet and ControlNet compute in ('f32' / 'bf16' on the CPU, 'f16' / 'bf16' on CUDA). */
  get precision(): Precision {
    return this.engine.precision;
  }

  /** The precision the VAE computes in (precision.ts: the models', or bf16 for a VAE that overflows in f16). */
  get vaePrecision(): Precision {
    return this.parts.vae.engine.precision;
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
    const o = resolveForModel(task, options, { files: this.files, unet: this.parts.unet.config, device: this.engine.device, hasControlNet: this.parts.controlnet !== undefined });
    const out = await generate(this.parts, o, o.trace, o.kvCache ? this.kvCache : undefined);
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

/**
 * Longest prompt text recorded in the parameters (and so in every PNG): far more than the text
 * encoder's 77 tokens use, so only megabyte prompts are cut, with a note of their length.
 */
export const MAX_RECORDED_PROMPT_CHARS = 4096;

function recorded(prompt: string): string {
  if (prompt.length <= MAX_RECORDED_PROMPT_CHARS) return prompt;
  return `${prompt.slice(0, MAX_RECORDED_PROMPT_CHARS)}… [cut: ${prompt.length} characters in all]`;
}

function describeCall(o: ResolvedOptions, backend: string, files: ModelFiles, predictionType: PredictionType): Record<string, unknown> {
  return {
    task: o.task,
    model: files.path,
    family: files.family.id,
    predictionType,
    prompt: recorded(o.prompt),
    qualitySuffix: o.qualitySuffix === '' ? false : o.qualitySuffix,
    negativePrompt: recorded(o.negativePrompt),
    inversionPrompt: recorded(o.inversionPrompt),
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
