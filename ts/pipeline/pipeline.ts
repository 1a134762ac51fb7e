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
import { locateControlNet, locateModel, randomModel, shippedControlNetConfigDir, type LocateOptions, type ModelFiles } from '../models/model-files.js';
import { UNet } from '../models/unet.js';
import { normalizeUNetConfig, type UNetConfig } from '../models/unet-config.js';
import { VAE } from '../models/vae.js';
import { DDIMScheduler, referenceDdimConfig, type PredictionType } from '../scheduler/index.js';
import { probeCuda, resolveBackend } from '../backend-select.js';
import { devices } from '../system.js';
import { modelPrecision, type Precision } from '../precision.js';
import { CLIPTokenizer } from '../text/tokenizer.js';
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

/** What a call's options are checked against: the UNet's default and smallest sizes, its latent channels. */
function modelLimits(unet: UNetConfig): ModelLimits {
  return {
    defaultSize: (unet.sample_size ?? 64) * 8,
    latentChannels: unet.in_channels,
    minLatentSide: Math.max(2, 2 ** (unet.block_out_channels.length - 1)),
  };
}

/** The call's options resolved against the model, and refused when the size costs too much for the device. */
function resolveForModel(task: Task, options: PipelineCallOptions, unet: UNetConfig, device: 'cpu' | 'cuda', hasControlNet: boolean): ResolvedOptions {
  const o = resolveOptions(task, options, modelLimits(unet));
  if (task === 'structure' && !hasControlNet) {
    throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', 'the structure-guided task needs a ControlNet: load the pipeline with { controlnet }');
  }
  checkCallCost(unet, o, device);
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
   * options, the call's options, and those against the model's configs (size, injected noise)
   * and the backend (the cost limit). Reads only the model's config files; throws the error the
   * call would throw.
   */
  static async validateCall(load: PipelineLoadOptions, task: Task, options: PipelineCallOptions): Promise<void> {
    validateLoadOptions(load);
    validateCallOptions(task, options);
    const files = await modelFiles(load);
    const unet = normalizeUNetConfig(files.unet.config, `${files.path} UNet config`);
    const requested = load.backend ?? 'auto';
    const device = requested === 'auto' ? ((await probeCuda()) === '' ? 'cuda' : 'cpu') : requested === 'cpu' ? 'cpu' : 'cuda';
    modelPrecision(load.precision, device, unet.block_out_channels);
    resolveForModel(task, options, unet, device, load.controlnet !== undefined);
  }

  static async load(options: PipelineLoadOptions): Promise<IndetailPipeline> {
    validateLoadOptions(options);
    const kvOption = options.kvCache;
    const files = await modelFiles(options);
    const backend = await chooseBackend(options);
    const precision = modelPrecision(options.precision, backend === 'cpu' ? 'cpu' : 'cuda', normalizeUNetConfig(files.unet.config, `${files.path} UNet config`).block_out_channels);
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
        const cn = await locateControlNet(options.controlnet, unet.config.layers_per_block[0]!, files.family.controlnetConfigDir);
        controlnet = await ControlNet.load(engine, { config: cn.config, weights: cn.weights, source: `${options.controlnet} ControlNet config` });
        loaded.push(controlnet);
      }
      // The reference hard-codes this DDIM configuration whatever the checkpoint ships.
      const scheduler = new DDIMScheduler(referenceDdimConfig(files.prediction.type));
      const kvCacheBytes = kvCacheBudget(kvOption, engine);
      const parts = { engine, family: files.family, tokenizer, textEncoder, unet, vae, scheduler, ...(controlnet ? { controlnet } : {}) };
      return new IndetailPipeline(engine, files, parts, kvCacheBytes);
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
    const o = resolveForModel(task, options, this.parts.unet.config, this.engine.device, this.parts.controlnet !== undefined);
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
    this.parts.unet.dispose();
    this.parts.textEncoder.dispose();
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
