// ControlNet (diffusers ControlNetModel) on an Engine: produces the UNet's control residuals
// from the latents, the timestep, the text context and a conditioning image.
import { addon, type NativeEngine, type NativeTensor } from '../native/addon.js';
import type { Engine } from '../engine.js';
import { IndetailError, nativeAsync } from '../errors.js';
import { Tensor } from '../tensor.js';
import { withCancelToken } from '../cancel.js';
import { normalizeControlNetConfig, type ControlNetConfig } from './controlnet-config.js';
import { frameCount, resolveModelSource, timestepsPerFrame, type ModelSource } from './unet.js';
import { nativeWeightSpec } from './weights.js';

export interface ControlNetForwardArgs {
  /** Noisy latents NHWC [N, H, W, in_channels]. */
  sample: Tensor;
  /** One timestep for every frame, or one per frame. */
  timesteps: number | ArrayLike<number>;
  /** Encoder hidden states [N, L, cross_attention_dim]. */
  context: Tensor;
  /** Conditioning image NHWC [N or 1, 8H, 8W, 3], RGB in [0, 1]; one frame is shared by the batch. */
  cond: Tensor;
  /** conditioning_scale of diffusers (default 1). */
  scale?: number;
  /** Stops the forward between its blocks (ERR_INDETAIL_CANCELLED). */
  signal?: AbortSignal;
}

export interface ControlNetResiduals {
  /** One residual per UNet skip connection, in diffusers' order. */
  down: Tensor[];
  mid: Tensor;
}

interface NativeControlNet {
  readonly disposed: boolean;
  forward(args: Record<string, unknown>): Promise<{ down: NativeTensor[]; mid: NativeTensor }>;
  dispose(): void;
}

export class ControlNet implements Disposable {
  readonly config: ControlNetConfig;
  readonly engine: Engine;
  /** @internal */
  readonly native: NativeControlNet;

  private constructor(engine: Engine, config: ControlNetConfig, native: NativeControlNet) {
    this.engine = engine;
    this.config = config;
    this.native = native;
  }

  /** Loads a ControlNet from a diffusers folder or from a config and weights. */
  static async load(engine: Engine, from: ModelSource): Promise<ControlNet> {
    const { raw, weights, source } = await resolveModelSource(from, 'ControlNet');
    const config = normalizeControlNetConfig(raw, source);
    const spec = nativeWeightSpec(weights);
    const load = addon().loadControlNet as (e: NativeEngine, config: string, weights: unknown) => Promise<NativeControlNet>;
    const native = await nativeAsync(() => load(engine.native, JSON.stringify(config), spec));
    return new ControlNet(engine, config, native);
  }

  get disposed(): boolean {
    return this.native.disposed;
  }

  async forward(args: ControlNetForwardArgs): Promise<ControlNetResiduals> {
    const frames = frameCount(args.sample);
    frameCount(args.cond, 'cond');
    if (!(args.context instanceof Tensor)) {
      throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `Expected a Tensor for context but received ${String(args.context)}`);
    }
    const scale = args.scale ?? 1;
    if (typeof scale !== 'number' || !Number.isFinite(scale)) {
      throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `Expected a finite number for scale but received ${String(args.scale)}`);
    }
    const a = {
      sample: args.sample.native,
      context: args.context.native,
      cond: args.cond.native,
      timesteps: timestepsPerFrame(args.timesteps, frames),
      scale,
    };
    const out = await withCancelToken(args.signal, (cancel) => nativeAsync(() => this.native.forward({ ...a, ...(cancel ? { cancel } : {}) })));
    return { down: out.down.map((t) => new Tensor(t)), mid: new Tensor(out.mid) };
  }

  dispose(): void {
    this.native.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}
