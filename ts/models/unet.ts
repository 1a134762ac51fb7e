// The Stable Diffusion UNet (diffusers UNet2DConditionModel) on an Engine: weights resident
// once, one forward per denoising step, with optional ControlNet residuals and the image-prompt
// attention policy on the decoder's self-attention, whose keys/values of chosen rows can be
// recorded into an ImagePromptKVCache and read back by later forwards (DESIGN.md §5).
import path from 'node:path';
import { addon, type NativeEngine, type NativeTensor } from '../native/addon.js';
import type { Engine } from '../engine.js';
import { IndetailError, nativeAsync, nativeSync } from '../errors.js';
import { Tensor } from '../tensor.js';
import { withCancelToken } from '../cancel.js';
import { readConfigFile, type RawConfig } from './config-check.js';
import { normalizeUNetConfig, type UNetConfig } from './unet-config.js';
import { componentWeights, nativeWeightSpec, type WeightSpec } from './weights.js';

/** Where a model comes from: a diffusers component folder, or a config plus weights. */
export type ModelSource = { dir: string } | { config: RawConfig; weights: WeightSpec; source?: string };

export type AttentionMode = 'none' | 'concat' | 'stratified' | 'replace';

/**
 * How the decoder's self-attention (attn1 of the up blocks) of each frame also attends to a
 * reference frame's keys and values (DESIGN.md §1). Encoder, mid block and cross-attention are
 * never modified.
 */
export interface AttentionPolicy {
  /** concat: one softmax over [K_ref ; K_own]; stratified: (λref·Attn(ref) + λself·Attn(own)) / (λref + λself); replace: K_ref only. */
  mode: AttentionMode;
  /** Per frame: the frame whose keys/values it also attends to, or -1 (plain self-attention). */
  ref?: number[];
  /** λ of the reference term (stratified), default 1. */
  lambdaRef?: number;
  /** λ of the frame's own term (stratified), default 1. */
  lambdaSelf?: number;
}

export interface UNetControl {
  /** One residual per skip connection, in diffusers' order (ControlNet.forward().down). */
  down: Tensor[];
  mid: Tensor;
  /** Per frame: multiplies that frame's residuals (e.g. 0 to mask the control of a frame). Default 1. */
  frameScale?: number[];
}

/** Where a forward records the decoder self-attention keys/values of some of its rows. */
export interface RecordKV {
  cache: ImagePromptKVCache;
  /** Denoising step index in [0, cache.steps). */
  step: number;
  /** Batch rows to record; cache row j = rows[j] (as many as cache.rows). */
  rows: number[];
}

/** A recorded step whose keys/values the decoder self-attention reads as the reference. */
export interface RefKV {
  cache: ImagePromptKVCache;
  step: number;
}

export interface UNetForwardArgs {
  /** Noisy latents NHWC [N, H, W, in_channels]. */
  sample: Tensor;
  /** One timestep for every frame, or one per frame. */
  timesteps: number | ArrayLike<number>;
  /** Encoder hidden states [N, L, cross_attention_dim]. */
  context: Tensor;
  control?: UNetControl;
  attention?: AttentionPolicy;
  /** Record the decoder self-attention keys/values of `rows` (whatever the attention mode). */
  recordKV?: RecordKV;
  /** Take the reference keys/values from a recorded step: attention.ref then indexes the cache's rows (-1: none), not the batch. */
  refKV?: RefKV;
  /**
   * false: resolve once the forward is queued on the backend's stream instead of after it ran
   * (the pipelines' steps: later ops are ordered after it; reading the output waits for it).
   */
  sync?: boolean;
  /**
   * Stops the forward before its next block (every down block, the mid block, every up block;
   * once before a CUDA graph replay): it rejects with ERR_INDETAIL_CANCELLED and the UNet stays usable.
   */
  signal?: AbortSignal;
}

interface NativeKVCache {
  readonly steps: number;
  readonly rows: number;
  readonly layers: number;
  readonly bytes: number;
  readonly recordedSteps: number;
  readonly disposed: boolean;
  has(step: number): boolean;
  delete(step: number): void;
  clear(): void;
  dispose(): void;
}

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

/**
 * The image prompt's decoder self-attention keys and values, per denoising step: one K and one V
 * tensor [rows, tokens, width] per attn1 layer of the up blocks, resident on the UNet's engine
 * (device memory on CUDA). Filled by `unet.forward({ recordKV })`, read by `unet.forward({ refKV })`.
 */
export class ImagePromptKVCache implements Disposable {
  /** @internal */
  readonly native: NativeKVCache;
  /** @internal */
  readonly owner: UNet;

  /** @internal */
  constructor(owner: UNet, native: NativeKVCache) {
    this.owner = owner;
    this.native = native;
  }
  get steps(): number {
    return nativeSync(() => this.native.steps);
  }
  /** Reference rows per step (the image prompt's positive row, and its negative row under conflicting guidance). */
  get rows(): number {
    return nativeSync(() => this.native.rows);
  }
  /** Decoder self-attention layers per step. */
  get layers(): number {
    return nativeSync(() => this.native.layers);
  }
  /** Bytes of every K/V tensor held (0 once disposed). */
  get bytes(): number {
    return this.native.bytes;
  }
  get recordedSteps(): number {
    return this.native.recordedSteps;
  }
  get disposed(): boolean {
    return this.native.disposed;
  }
  has(step: number): boolean {
    return nativeSync(() => this.native.has(step));
  }
  delete(step: number): void {
    nativeSync(() => this.native.delete(step));
  }
  /** Forgets every step (the memory goes back to the engine's allocator). */
  clear(): void {
    nativeSync(() => this.native.clear());
  }
  /** Releases the tensors once no running forward uses them. */
  dispose(): void {
    this.native.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
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

/** @internal Timesteps as one number per frame. */
export function timestepsPerFrame(t: number | ArrayLike<number>, frames: number): number[] {
  const list = typeof t === 'number' ? Array(frames).fill(t) : Array.from(t ?? []);
  if (list.length !== frames) invalid(`Expected one timestep or ${frames} (one per frame) for timesteps but received ${list.length}`);
  list.forEach((x, i) => {
    if (typeof x !== 'number' || !Number.isFinite(x) || x < 0) invalid(`Expected a non-negative number for timesteps[${i}] but received ${x}`);
  });
  return list;
}

/** @internal */
export function frameCount(sample: Tensor, name = 'sample'): number {
  if (!(sample instanceof Tensor)) invalid(`Expected a Tensor for ${name} but received ${String(sample)}`);
  const s = sample.shape;
  if (s.length !== 4) invalid(`Expected an NHWC tensor [N, H, W, C] for ${name} but received shape [${s.join(', ')}]`);
  return s[0] ?? 0;
}

function nativeAttention(a: AttentionPolicy, frames: number, refRows?: number): Record<string, unknown> {
  const modes: AttentionMode[] = ['none', 'concat', 'stratified', 'replace'];
  if (!modes.includes(a.mode)) invalid(`Expected one of ${modes.map((m) => `'${m}'`).join(', ')} for attention.mode but received ${JSON.stringify(a.mode)}`);
  const ref = a.ref ?? Array(frames).fill(-1);
  if (!Array.isArray(ref) || ref.length !== frames) invalid(`Expected ${frames} frame indices (one per frame) for attention.ref but received ${JSON.stringify(a.ref)}`);
  const limit = refRows ?? frames;
  const what = refRows === undefined ? 'a frame index' : 'a row of refKV.cache';
  ref.forEach((r, i) => {
    if (!Number.isInteger(r) || r < -1 || r >= limit) invalid(`Expected -1 or ${what} in [0, ${limit}) for attention.ref[${i}] but received ${r}`);
  });
  const lambdaRef = a.lambdaRef ?? 1;
  const lambdaSelf = a.lambdaSelf ?? 1;
  for (const [name, v] of [['lambdaRef', lambdaRef], ['lambdaSelf', lambdaSelf]] as const) {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) invalid(`Expected a non-negative number for attention.${name} but received ${v}`);
  }
  if (a.mode === 'stratified' && lambdaRef + lambdaSelf <= 0) invalid('Expected attention.lambdaRef + attention.lambdaSelf > 0 for stratified attention');
  return { mode: a.mode, ref, lambdaRef, lambdaSelf };
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
    const frames = frameCount(args.sample);
    if (!(args.context instanceof Tensor)) invalid(`Expected a Tensor for context but received ${String(args.context)}`);
    const a: Record<string, unknown> = {
      sample: args.sample.native,
      context: args.context.native,
      timesteps: timestepsPerFrame(args.timesteps, frames),
    };
    if (args.control) {
      const { down, mid, frameScale } = args.control;
      if (!Array.isArray(down) || !down.every((t) => t instanceof Tensor)) invalid('Expected an array of Tensors for control.down');
      if (!(mid instanceof Tensor)) invalid(`Expected a Tensor for control.mid but received ${String(mid)}`);
      a.control = { down: down.map((t) => t.native), mid: mid.native } as Record<string, unknown>;
      if (frameScale !== undefined) {
        if (!Array.isArray(frameScale) || frameScale.length !== frames || !frameScale.every((x) => typeof x === 'number' && Number.isFinite(x))) {
          invalid(`Expected ${frames} finite numbers (one per frame) for control.frameScale but received ${JSON.stringify(frameScale)}`);
        }
        (a.control as Record<string, unknown>).frameScale = frameScale;
      }
    }
    if (args.refKV) {
      a.refKV = this.kvTarget(args.refKV, 'refKV');
      if (args.recordKV?.cache === args.refKV.cache) invalid('Expected different caches for recordKV and refKV');
    }
    if (args.recordKV) {
      a.recordKV = this.kvTarget(args.recordKV, 'recordKV');
      const { rows } = args.recordKV;
      const want = args.recordKV.cache.rows;
      if (!Array.isArray(rows) || rows.length !== want || !rows.every((r) => Number.isInteger(r) && r >= 0 && r < frames)) {
        invalid(`Expected ${want} row indices in [0, ${frames}) for recordKV.rows but received ${JSON.stringify(rows)}`);
      }
      (a.recordKV as Record<string, unknown>).rows = rows;
    }
    if (args.attention) a.attention = nativeAttention(args.attention, frames, args.refKV?.cache.rows);
    if (args.sync === false) a.sync = false;
    return new Tensor(await withCancelToken(args.signal, (cancel) => nativeAsync(() => this.native.forward(cancel ? { ...a, cancel } : a))));
  }

  private kvTarget(t: RecordKV | RefKV, name: string): Record<string, unknown> {
    if (!(t?.cache instanceof ImagePromptKVCache)) invalid(`Expected an ImagePromptKVCache for ${name}.cache but received ${String(t?.cache)}`);
    if (t.cache.owner !== this) invalid(`Expected ${name}.cache to be created by this UNet (unet.createKVCache)`);
    if (t.cache.disposed) throw new IndetailError('ERR_INDETAIL_DISPOSED', `${name}.cache is disposed`);
    const steps = t.cache.steps;
    if (!Number.isInteger(t.step) || t.step < 0 || t.step >= steps) invalid(`Expected an integer in [0, ${steps}) for ${name}.step but received ${t.step}`);
    return { cache: t.cache.native, step: t.step };
  }

  dispose(): void {
    this.native.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}
