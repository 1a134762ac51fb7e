// The inputs of one UNet forward (sample, timesteps, text states, SDXL's added conditions,
// ControlNet residuals, the decoder self-attention policy and the image-prompt K/V cache), checked
// against the model and turned into the one object the binding reads (binding/unet_inputs_js.h)
// and the engine carries to the forward and its CUDA-graph key (engine/models/unet_inputs.h).
import { IndetailError } from '../errors.js';
import { Tensor } from '../tensor.js';
import { ImagePromptKVCache } from './image-prompt-kv-cache.js';
import type { UNet } from './unet.js';
import type { UNetConfig } from './unet-config.js';

export type AttentionMode = 'none' | 'concat' | 'stratified' | 'replace';
export const ATTENTION_MODES: readonly AttentionMode[] = ['none', 'concat', 'stratified', 'replace'];

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

/**
 * The added conditions of an SDXL UNet (config addition_embed_type "text_time"): required by such
 * a UNet, refused by others.
 */
export interface UNetAddedConditions {
  /** Per frame the pooled text embedding [N, P] (SDXL: text_encoder_2's projected output). */
  textEmbeds: Tensor;
  /**
   * The time ids (SDXL: original height, width, crop top, left, target height, width): one list
   * for every frame, or one list per frame.
   */
  timeIds: ArrayLike<number> | ArrayLike<number>[];
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

/** The text inputs of a forward: what a model family's conditioning makes of the prompts. */
export interface UNetTextInputs {
  /** Encoder hidden states [N, L, cross_attention_dim]. */
  context: Tensor;
  added?: UNetAddedConditions;
}

export interface UNetForwardArgs extends UNetTextInputs {
  /** Noisy latents NHWC [N, H, W, in_channels]. */
  sample: Tensor;
  /** One timestep for every frame, or one per frame. */
  timesteps: number | ArrayLike<number>;
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

function invalid(message: string): never {
  throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', message);
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
  if (!ATTENTION_MODES.includes(a.mode)) invalid(`Expected one of ${ATTENTION_MODES.map((m) => `'${m}'`).join(', ')} for attention.mode but received ${JSON.stringify(a.mode)}`);
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

function nativeControl(c: UNetControl, frames: number): Record<string, unknown> {
  const { down, mid, frameScale } = c;
  if (!Array.isArray(down) || !down.every((t) => t instanceof Tensor)) invalid('Expected an array of Tensors for control.down');
  if (!(mid instanceof Tensor)) invalid(`Expected a Tensor for control.mid but received ${String(mid)}`);
  const out: Record<string, unknown> = { down: down.map((t) => t.native), mid: mid.native };
  if (frameScale !== undefined) {
    if (!Array.isArray(frameScale) || frameScale.length !== frames || !frameScale.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      invalid(`Expected ${frames} finite numbers (one per frame) for control.frameScale but received ${JSON.stringify(frameScale)}`);
    }
    out.frameScale = frameScale;
  }
  return out;
}

/** The added conditions as the binding takes them (time ids flattened frame by frame), checked against the config. */
function nativeAdded(added: UNetAddedConditions | undefined, frames: number, config: UNetConfig): Record<string, unknown> | undefined {
  if (config.addition_embed_type !== 'text_time') {
    if (added !== undefined) invalid('Expected no added conditions for this UNet (its config has no addition_embed_type), but received added');
    return undefined;
  }
  if (added === undefined || typeof added !== 'object') {
    invalid('Expected added: { textEmbeds, timeIds } for this UNet (its config has addition_embed_type "text_time", as SDXL)');
  }
  const { textEmbeds, timeIds } = added;
  if (!(textEmbeds instanceof Tensor)) invalid(`Expected a Tensor for added.textEmbeds but received ${String(textEmbeds)}`);
  const perFrame = Array.isArray(timeIds) && timeIds.length > 0 && typeof timeIds[0] !== 'number';
  const lists = (perFrame ? (timeIds as ArrayLike<number>[]) : Array<ArrayLike<number>>(frames).fill(timeIds as ArrayLike<number>)).map((l) => Array.from(l ?? []));
  const count = lists[0]?.length ?? 0;
  if (lists.length !== frames || count === 0 || lists.some((l) => l.length !== count || !l.every((x) => typeof x === 'number' && Number.isFinite(x)))) {
    invalid(`Expected one list of finite time ids for every frame, or one per frame (${frames}), all of one length, for added.timeIds`);
  }
  const [n, width] = textEmbeds.shape;
  const want = config.projection_class_embeddings_input_dim - count * config.addition_time_embed_dim;
  if (textEmbeds.shape.length !== 2 || n !== frames || width !== want) {
    invalid(
      `Expected added.textEmbeds of shape [${frames}, ${want}] (projection_class_embeddings_input_dim ${config.projection_class_embeddings_input_dim} ` +
        `minus ${count} time ids × ${config.addition_time_embed_dim}) but received [${textEmbeds.shape.join(', ')}]`,
    );
  }
  return { textEmbeds: textEmbeds.native, timeIds: lists.flat() };
}

/** @internal The checked forward arguments of `unet` as the binding reads them. */
export function nativeForwardArgs(unet: UNet, args: UNetForwardArgs): Record<string, unknown> {
  const frames = frameCount(args.sample);
  if (!(args.context instanceof Tensor)) invalid(`Expected a Tensor for context but received ${String(args.context)}`);
  const a: Record<string, unknown> = {
    sample: args.sample.native,
    context: args.context.native,
    timesteps: timestepsPerFrame(args.timesteps, frames),
  };
  const added = nativeAdded(args.added, frames, unet.config);
  if (added) a.added = added;
  if (args.control) a.control = nativeControl(args.control, frames);
  if (args.refKV) {
    a.refKV = kvTarget(unet, args.refKV, 'refKV');
    if (args.recordKV?.cache === args.refKV.cache) invalid('Expected different caches for recordKV and refKV');
  }
  if (args.recordKV) {
    const { rows } = args.recordKV;
    const target = kvTarget(unet, args.recordKV, 'recordKV');
    const want = args.recordKV.cache.rows;
    if (!Array.isArray(rows) || rows.length !== want || !rows.every((r) => Number.isInteger(r) && r >= 0 && r < frames)) {
      invalid(`Expected ${want} row indices in [0, ${frames}) for recordKV.rows but received ${JSON.stringify(rows)}`);
    }
    a.recordKV = { ...target, rows };
  }
  if (args.attention) a.attention = nativeAttention(args.attention, frames, args.refKV?.cache.rows);
  if (args.sync === false) a.sync = false;
  return a;
}

function kvTarget(unet: UNet, t: RecordKV | RefKV, name: string): { cache: unknown; step: number } {
  if (!(t?.cache instanceof ImagePromptKVCache)) invalid(`Expected an ImagePromptKVCache for ${name}.cache but received ${String(t?.cache)}`);
  if (t.cache.owner !== unet) invalid(`Expected ${name}.cache to be created by this UNet (unet.createKVCache)`);
  if (t.cache.disposed) throw new IndetailError('ERR_INDETAIL_DISPOSED', `${name}.cache is disposed`);
  const steps = t.cache.steps;
  if (!Number.isInteger(t.step) || t.step < 0 || t.step >= steps) invalid(`Expected an integer in [0, ${steps}) for ${name}.step but received ${t.step}`);
  return { cache: t.cache.native, step: t.step };
}
