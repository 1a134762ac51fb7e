// The Stable Diffusion UNet (diffusers UNet2DConditionModel) on an Engine: weights resident
// once, one forward per denoising step, with optional ControlNet residuals and the image-prompt
// attention policy on the decoder's self-attention.
import path from 'node:path';
import { addon, type NativeEngine, type NativeTensor } from '../native/addon.js';
import type { Engine } from '../engine.js';
import { IndetailError, nativeAsync, nativeSync } from '../errors.js';
import { Tensor } from '../tensor.js';
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

export interface UNetForwardArgs {
  /** Noisy latents NHWC [N, H, W, in_channels]. */
  sample: Tensor;
  /** One timestep for every frame, or one per frame. */
  timesteps: number | ArrayLike<number>;
  /** Encoder hidden states [N, L, cross_attention_dim]. */
  context: Tensor;
  control?: UNetControl;
  attention?: AttentionPolicy;
}

interface NativeUNet {
  readonly disposed: boolean;
  readonly skipCount: number;
  forward(args: Record<string, unknown>): Promise<NativeTensor>;
  dispose(): void;
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

function nativeAttention(a: AttentionPolicy, frames: number): Record<string, unknown> {
  const modes: AttentionMode[] = ['none', 'concat', 'stratified', 'replace'];
  if (!modes.includes(a.mode)) invalid(`Expected one of ${modes.map((m) => `'${m}'`).join(', ')} for attention.mode but received ${JSON.stringify(a.mode)}`);
  const ref = a.ref ?? Array(frames).fill(-1);
  if (!Array.isArray(ref) || ref.length !== frames) invalid(`Expected ${frames} frame indices (one per frame) for attention.ref but received ${JSON.stringify(a.ref)}`);
  ref.forEach((r, i) => {
    if (!Number.isInteger(r) || r < -1 || r >= frames) invalid(`Expected -1 or a frame index in [0, ${frames}) for attention.ref[${i}] but received ${r}`);
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
  static async load(engine: Engine, from: ModelSource): Promise<UNet> {
    const { raw, weights, source } = await resolveModelSource(from, 'UNet');
    const config = normalizeUNetConfig(raw, source);
    const spec = nativeWeightSpec(weights);
    const load = addon().loadUNet as (e: NativeEngine, config: string, weights: unknown) => Promise<NativeUNet>;
    const native = await nativeAsync(() => load(engine.native, JSON.stringify(config), spec));
    return new UNet(engine, config, native);
  }

  /** Number of ControlNet down residuals this UNet takes (one per skip connection). */
  get skipCount(): number {
    return nativeSync(() => this.native.skipCount);
  }
  get disposed(): boolean {
    return this.native.disposed;
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
    if (args.attention) a.attention = nativeAttention(args.attention, frames);
    return new Tensor(await nativeAsync(() => this.native.forward(a)));
  }

  dispose(): void {
    this.native.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}
