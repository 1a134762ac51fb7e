// The Stable Diffusion UNet (diffusers UNet2DConditionModel, SD 1.x/2.x and XL) on an Engine:
// weights resident once, one forward per denoising step on one inputs object (unet-inputs.ts):
// text states and SDXL's added conditions, optional ControlNet residuals and the image-prompt
// attention policy on the decoder's self-attention, whose keys/values of chosen rows can be
// recorded into an ImagePromptKVCache and read back by later forwards (DESIGN.md §5).
import path from 'node:path';
import { addon, type NativeEngine, type NativeTensor } from '../native/addon.js';
import type { Engine } from '../engine.js';
import { IndetailError, nativeAsync, nativeSync } from '../errors.js';
import { Tensor } from '../tensor.js';
import { withCancelToken } from '../cancel.js';
import { readConfigFile, type RawConfig } from './config-check.js';
import { ImagePromptKVCache, type NativeKVCache } from './image-prompt-kv-cache.js';
import { normalizeUNetConfig, type UNetConfig } from './unet-config.js';
import { nativeForwardArgs, type UNetForwardArgs } from './unet-inputs.js';
import { componentWeights, nativeWeightSpec, type WeightSpec } from './weights.js';

/** Where a model comes from: a diffusers component folder, or a config plus weights. */
export type ModelSource = { dir: string } | { config: RawConfig; weights: WeightSpec; source?: string };

/** Options of UNet.load. */
export interface UNetLoadOptions {
  /**
   * CUDA graphs (default true): on a CUDA engine each forward whose key (shapes, attention
   * policy, ControlNet frame scales, cache shapes) was seen before replays a recorded graph, one
   * launch instead of ~1000 kernel launches, same output bits. Keys whose recording fails run
   * eagerly. INDETAIL_CUDA_GRAPHS=0 in the environment turns graphs off process-wide.
   */
  cudaGraphs?: boolean;
}

/** What the UNet's CUDA graphs did (counters since load). */
export interface UNetGraphStats {
  /** Graphs requested (the load option or the `cudaGraphs` setter). */
  enabled: boolean;
  /** Whether the engine can record graphs (false on the CPU, or with INDETAIL_CUDA_GRAPHS=0). */
  supported: boolean;
  unsupportedReason?: string;
  /** Graphs held now (at most 8 per UNet, least recently used evicted). */
  graphs: number;
  /** Device memory the held graphs keep reserved (their activations and input/output buffers). */
  bytes: number;
  /** Kernels and copies recorded in the held graphs. */
  operations: number;
  captures: number;
  replays: number;
  /** Forwards run op by op (first forward of a key, keys that cannot be recorded, graphs off). */
  eager: number;
  /** Recordings or replays that failed (the key then runs eagerly). */
  failures: number;
  evictions: number;
  lastFailure?: string;
}

/** Counters over every UNet of the process. */
export type UNetGraphTotals = Pick<UNetGraphStats, 'captures' | 'replays' | 'eager' | 'failures' | 'evictions'>;

/** @internal CUDA graph counters over every UNet of the process (tests). */
export function unetGraphTotals(): UNetGraphTotals {
  return nativeSync(() => (addon().unetGraphTotals as () => UNetGraphTotals)());
}

interface NativeUNet {
  readonly disposed: boolean;
  readonly skipCount: number;
  readonly kvLayers: number;
  cudaGraphs: boolean;
  graphStats(): UNetGraphStats;
  forward(args: Record<string, unknown>): Promise<NativeTensor>;
  createKVCache(steps: number, rows: number): NativeKVCache;
  dispose(): void;
}

/** One decoder self-attention layer: tokens per frame and key width (= value width). */
export interface DecoderKVLayer {
  /** The layer's diffusers name, e.g. up_blocks.1.attentions.0.transformer_blocks.0.attn1. */
  name: string;
  tokens: number;
  width: number;
  heads: number;
}

function downsampled(size: number, padding: number): number {
  const padEnd = padding === 0 ? 1 : padding; // diffusers pads (0, 1) itself when the conv has no padding
  return Math.floor((size + padding + padEnd - 3) / 2) + 1;
}

/** The decoder self-attention layers (in the engine's order) of a UNet run on latents of latentHeight × latentWidth. */
export function decoderKVLayers(config: UNetConfig, latentHeight: number, latentWidth: number): DecoderKVLayer[] {
  const n = config.block_out_channels.length;
  const sizes: Array<[number, number]> = [[latentHeight, latentWidth]];
  for (let level = 1; level < n; level++) {
    const [h, w] = sizes[level - 1]!;
    sizes.push([downsampled(h, config.downsample_padding), downsampled(w, config.downsample_padding)]);
  }
  const layers: DecoderKVLayer[] = [];
  config.up_block_types.forEach((type, i) => {
    if (type !== 'CrossAttnUpBlock2D') return;
    const level = n - 1 - i;
    const [h, w] = sizes[level]!;
    const depth = config.reverse_transformer_layers_per_block[i]!;
    for (let a = 0; a < config.layers_per_block[level]! + 1; a++) {
      for (let t = 0; t < depth; t++) {
        layers.push({
          name: `up_blocks.${i}.attentions.${a}.transformer_blocks.${t}.attn1`,
          tokens: h * w,
          width: config.block_out_channels[level]!,
          heads: config.num_attention_heads[level]!,
        });
      }
    }
  });
  return layers;
}

/** Bytes of one step of an ImagePromptKVCache: K and V of every decoder self-attention layer for `rows` rows. */
export function decoderKVBytesPerStep(config: UNetConfig, latentHeight: number, latentWidth: number, rows: number, bytesPerValue: number): number {
  return decoderKVLayers(config, latentHeight, latentWidth).reduce((sum, l) => sum + 2 * rows * l.tokens * l.width * bytesPerValue, 0);
}

function invalid(message: string): never {
  throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', message);
}

/** @internal Reads a model source into a raw config and a weight spec. */
export async function resolveModelSource(from: ModelSource, kind: string): Promise<{ raw: RawConfig; weights: WeightSpec; source: string }> {
  if (from === null || typeof from !== 'object') invalid(`Expected { dir } or { config, weights } for the ${kind} source but received ${String(from)}`);
  if ('dir' in from) {
    if (typeof from.dir !== 'string') invalid(`Expected a folder path for dir but received ${JSON.stringify(from.dir)}`);
    const file = path.join(from.dir, 'config.json');
    const raw = await readConfigFile(file);
    return { raw, weights: await componentWeights(from.dir, ['diffusion_pytorch_model']), source: file };
  }
  if (typeof from.config !== 'object' || from.config === null) invalid(`Expected a config object for config but received ${String(from.config)}`);
  if (typeof from.weights !== 'object' || from.weights === null) invalid(`Expected a weight spec for weights but received ${String(from.weights)}`);
  return { raw: from.config, weights: from.weights, source: from.source ?? `${kind} config` };
}

export class UNet implements Disposable {
  /** The normalised configuration the graph was built from. */
  readonly config: UNetConfig;
  /** The engine the weights live on (kept alive by this model). */
  readonly engine: Engine;
  /** @internal */
  readonly native: NativeUNet;

  private constructor(engine: Engine, config: UNetConfig, native: NativeUNet) {
    this.engine = engine;
    this.config = config;
    this.native = native;
  }

  /** Loads a UNet from a diffusers `unet/` folder or from a config and weights ({ random: seed } for benchmarks). */
  static async load(engine: Engine, from: ModelSource, options: UNetLoadOptions = {}): Promise<UNet> {
    if (typeof options !== 'object' || options === null) invalid(`Expected an options object for UNet.load but received ${String(options)}`);
    const cudaGraphs = options.cudaGraphs ?? true;
    if (typeof cudaGraphs !== 'boolean') invalid(`Expected a boolean for cudaGraphs but received ${String(cudaGraphs)}`);
    const { raw, weights, source } = await resolveModelSource(from, 'UNet');
    const config = normalizeUNetConfig(raw, source);
    const spec = nativeWeightSpec(weights);
    const load = addon().loadUNet as (e: NativeEngine, config: string, weights: unknown, options: { cudaGraphs: boolean }) => Promise<NativeUNet>;
    const native = await nativeAsync(() => load(engine.native, JSON.stringify(config), spec, { cudaGraphs }));
    return new UNet(engine, config, native);
  }

  /** Number of ControlNet down residuals this UNet takes (one per skip connection). */
  get skipCount(): number {
    return nativeSync(() => this.native.skipCount);
  }
  get disposed(): boolean {
    return this.native.disposed;
  }
  /** Number of decoder self-attention layers (what an ImagePromptKVCache holds per step). */
  get kvLayers(): number {
    return nativeSync(() => this.native.kvLayers);
  }

  /** Whether forwards may replay CUDA graphs (see UNetLoadOptions.cudaGraphs). Turning it off drops the graphs held. */
  get cudaGraphs(): boolean {
    return nativeSync(() => this.native.cudaGraphs);
  }
  set cudaGraphs(on: boolean) {
    if (typeof on !== 'boolean') invalid(`Expected a boolean for cudaGraphs but received ${String(on)}`);
    nativeSync(() => {
      this.native.cudaGraphs = on;
    });
  }

  /** What the CUDA graphs of this UNet did and hold. */
  graphStats(): UNetGraphStats {
    return nativeSync(() => this.native.graphStats());
  }

  /** An empty image-prompt K/V cache for `steps` denoising steps of `rows` reference rows each. */
  createKVCache(steps: number, rows = 1): ImagePromptKVCache {
    if (!Number.isInteger(steps) || steps < 1) invalid(`Expected a positive integer for steps but received ${steps}`);
    if (!Number.isInteger(rows) || rows < 1) invalid(`Expected a positive integer for rows but received ${rows}`);
    return new ImagePromptKVCache(this, nativeSync(() => this.native.createKVCache(steps, rows)));
  }

  /** Predicted noise NHWC [N, H, W, out_channels]. */
  async forward(args: UNetForwardArgs): Promise<Tensor> {
    const a = nativeForwardArgs(this, args);
    return new Tensor(await withCancelToken(args.signal, (cancel) => nativeAsync(() => this.native.forward(cancel ? { ...a, cancel } : a))));
  }

  dispose(): void {
    this.native.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}

export { ImagePromptKVCache } from './image-prompt-kv-cache.js';
export {
  frameCount,
  timestepsPerFrame,
  type AttentionMode,
  type AttentionPolicy,
  type RecordKV,
  type RefKV,
  type UNetAddedConditions,
  type UNetControl,
  type UNetForwardArgs,
  type UNetTextInputs,
} from './unet-inputs.js';
