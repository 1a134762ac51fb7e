// The Stable Diffusion autoencoder (diffusers AutoencoderKL) on an Engine: images NHWC in
// [-1, 1] <-> latents NHWC. encode()/decode() work on unscaled latents as the model defines
// them; encodeScaled()/decodeScaled() apply scaling_factor the way the pipelines need it.
//
// Tiling: images above a pixel budget (maxPixels, default 512×768) are processed as overlapping
// tiles (default 512 px, 128 px overlap) blended linearly (engine/models/vae_tiling.h), so
// 1024×1024 and larger run in the memory of one tile plus the latent-resolution layers. By
// default the mid block (attention over every latent position) still runs once on the whole
// latent; GroupNorm statistics and conv padding are per tile, so tiled results approximate the
// untiled ones. Images within the budget always take the exact single pass.
import path from 'node:path';
import type { Engine } from '../engine.js';
import { IndetailError, nativeAsync, nativeSync } from '../errors.js';
import { addon, type NativeCancelToken, type NativeTensor } from '../native/addon.js';
import { withCancelToken } from '../cancel.js';
import { Tensor } from '../tensor.js';
import { readConfigFile, type RawConfig } from './config-check.js';
import { nativeVaeConfig, parseVaeConfig, type VaeConfig } from './vae-config.js';
import { componentWeights, nativeWeightSpec, type WeightSpec } from './weights.js';

export interface VaeTilingOptions {
  /** 'auto' (default): tile images of more than maxPixels; 'always'; 'never'. */
  mode?: 'auto' | 'always' | 'never';
  /** Largest image (height × width pixels) encoded or decoded in one pass in 'auto' mode. Default 512 × 768. */
  maxPixels?: number;
  /** Tile side in image pixels, a multiple of the VAE factor (8). Default 512. */
  tileSize?: number;
  /** Pixels shared by neighbouring tiles, a multiple of the factor, below tileSize. Default 128. */
  overlap?: number;
  /**
   * true (default): only the full-resolution layers run per tile; the latent-resolution layers
   * (the mid block, whose attention spans every position) run once on the whole latent, as
   * untiled. false: the whole encoder/decoder runs per tile, as diffusers' enable_tiling does.
   */
  globalMidBlock?: boolean;
}

export const defaultVaeTiling: Readonly<Required<VaeTilingOptions>> = Object.freeze({
  mode: 'auto',
  maxPixels: 512 * 768,
  tileSize: 512,
  overlap: 128,
  globalMidBlock: true,
});

export type VaeLoadOptions = ({ dir: string } | { config: RawConfig; weights: WeightSpec; source?: string }) & {
  tiling?: VaeTilingOptions;
};

export interface VaeCallOptions {
  /** Overrides the VAE's tiling options for this call. */
  tiling?: VaeTilingOptions;
  /** Stops the pass before its next block or tile (ERR_INDETAIL_CANCELLED). */
  signal?: AbortSignal;
}

export interface LatentDistribution {
  /** [N, H/8, W/8, latent_channels], unscaled. */
  mean: Tensor;
  /** Clamped to [-30, 20]. */
  logvar: Tensor;
}

interface NativeVae {
  readonly disposed: boolean;
  readonly unusedWeights: string[];
  encode(image: NativeTensor, tiling?: NativeTiling, cancel?: NativeCancelToken): Promise<{ mean: NativeTensor; logvar: NativeTensor }>;
  decode(latents: NativeTensor, tiling?: NativeTiling, cancel?: NativeCancelToken): Promise<NativeTensor>;
  dispose(): void;
}
interface NativeTiling {
  tileSize: number;
  overlap: number;
  globalMidBlock: boolean;
}
type LoadVae = (engine: unknown, config: string, weights: Record<string, unknown>) => Promise<NativeVae>;

function invalid(message: string): IndetailError {
  return new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', message);
}

export class VAE implements Disposable {
  readonly engine: Engine;
  readonly config: VaeConfig;
  private readonly native: NativeVae;
  private tilingOptions: Required<VaeTilingOptions>;

  private constructor(engine: Engine, config: VaeConfig, native: NativeVae, tiling: Required<VaeTilingOptions>) {
    this.engine = engine;
    this.config = config;
    this.native = native;
    this.tilingOptions = tiling;
  }

  /** Loads vae/ of a diffusers folder ({ dir }) or a parsed config.json plus weights. */
  static async load(engine: Engine, options: VaeLoadOptions): Promise<VAE> {
    let raw: RawConfig;
    let source: string;
    let weights: WeightSpec;
    if ('dir' in options) {
      source = path.join(options.dir, 'config.json');
      raw = await readConfigFile(source);
    } else {
      raw = options.config;
      source = options.source ?? 'VAE config';
    }
    const config = parseVaeConfig(raw, source);
    const tiling = resolveTilingOptions(options.tiling, defaultVaeTiling, config.factor);
    if ('dir' in options) weights = await componentWeights(options.dir, ['diffusion_pytorch_model']);
    else weights = options.weights;
    if (engine.disposed) throw new IndetailError('ERR_INDETAIL_DISPOSED', 'Engine is disposed');
    const loadVae = (addon() as unknown as { loadVae: LoadVae }).loadVae;
    const native = await nativeAsync(() => loadVae(engine.native, nativeVaeConfig(config), nativeWeightSpec(weights)));
    return new VAE(engine, config, native, tiling);
  }

  get scalingFactor(): number {
    return this.config.scalingFactor;
  }
  /** Image pixels per latent pixel. */
  get factor(): number {
    return this.config.factor;
  }
  get tiling(): Readonly<Required<VaeTilingOptions>> {
    return this.tilingOptions;
  }
  set tiling(options: VaeTilingOptions) {
    this.tilingOptions = resolveTilingOptions(options, defaultVaeTiling, this.config.factor);
  }
  get disposed(): boolean {
    return this.native.disposed;
  }
  /** Tensors of the weight files that the config did not use (a config/checkpoint mismatch when not empty). */
  get unusedWeights(): string[] {
    this.checkLive();
    return nativeSync(() => this.native.unusedWeights);
  }

  /** image: [N, H, W, in_channels] in [-1, 1], H and W multiples of 8 -> the latent distribution. */
  async encode(image: Tensor, options: VaeCallOptions = {}): Promise<LatentDistribution> {
    this.checkLive();
    const [, h, w] = this.checkShape('image', image, this.config.inChannels, 'in_channels', this.factor);
    const tiling = this.plan(h, w, options);
    const r = await withCancelToken(options.signal, (cancel) => nativeAsync(() => this.native.encode(image.native, tiling, cancel)));
    return { mean: new Tensor(r.mean), logvar: new Tensor(r.logvar) };
  }

  /** The diffusion model's latents of an image: the distribution mean × scalingFactor. */
  async encodeScaled(image: Tensor, options: VaeCallOptions = {}): Promise<Tensor> {
    const { mean, logvar } = await this.encode(image, options);
    logvar.dispose();
    try {
      return await this.scale(mean, this.scalingFactor);
    } finally {
      mean.dispose();
    }
  }

  /** latents: [N, h, w, latent_channels], unscaled -> image [N, 8h, 8w, out_channels] (not clamped). */
  async decode(latents: Tensor, options: VaeCallOptions = {}): Promise<Tensor> {
    this.checkLive();
    const [, h, w] = this.checkShape('latents', latents, this.config.latentChannels, 'latent_channels', 1);
    const tiling = this.plan(h * this.factor, w * this.factor, options);
    return new Tensor(await withCancelToken(options.signal, (cancel) => nativeAsync(() => this.native.decode(latents.native, tiling, cancel))));
  }

  /** Decodes the diffusion model's latents: divides by scalingFactor first. */
  async decodeScaled(latents: Tensor, options: VaeCallOptions = {}): Promise<Tensor> {
    this.checkLive();
    this.checkShape('latents', latents, this.config.latentChannels, 'latent_channels', 1);
    const unscaled = await this.scale(latents, 1 / this.scalingFactor);
    try {
      return await this.decode(unscaled, options);
    } finally {
      unscaled.dispose();
    }
  }

  dispose(): void {
    this.native.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }

  private checkLive(): void {
    if (this.native.disposed) throw new IndetailError('ERR_INDETAIL_DISPOSED', 'VAE is disposed');
    if (this.engine.disposed) throw new IndetailError('ERR_INDETAIL_DISPOSED', 'Engine is disposed');
  }

  private checkShape(name: string, t: Tensor, channels: number, field: string, multiple: number): [number, number, number, number] {
    if (!(t instanceof Tensor)) throw invalid(`Expected a Tensor for ${name} but received ${String(t)}`);
    const shape = t.shape;
    if (shape.length !== 4) {
      throw invalid(`Expected ${name} of shape [N, H, W, ${channels}] (NHWC) but received [${shape.join(', ')}]`);
    }
    const [n, h, w, c] = shape as [number, number, number, number];
    if (c !== channels) {
      throw invalid(
        `${name} has ${c} channels (shape [${shape.join(', ')}]) but this VAE expects ${channels} (${field}); ` +
          `tensors are NHWC [N, H, W, C]`,
      );
    }
    if (n < 1 || h < 1 || w < 1) throw invalid(`${name} of shape [${shape.join(', ')}] is empty`);
    if (h % multiple !== 0 || w % multiple !== 0) {
      throw invalid(`${name} height ${h} and width ${w} must be multiples of ${multiple} (shape [${shape.join(', ')}])`);
    }
    return [n, h, w, c];
  }

  private plan(h: number, w: number, options: VaeCallOptions): NativeTiling | undefined {
    const t = options.tiling ? resolveTilingOptions(options.tiling, this.tilingOptions, this.factor) : this.tilingOptions;
    return vaeTilePlan(h, w, t);
  }

  // out = x * s, one scale for every frame (scale_frames).
  private async scale(x: Tensor, s: number): Promise<Tensor> {
    const out = this.engine.empty(x.shape);
    try {
      await this.engine.op('scale_frames', { x, scale: Array<number>(x.shape[0] ?? 0).fill(s), out });
    } catch (err) {
      out.dispose();
      throw err;
    }
    return out;
  }
}

/** Whether (and how) an image of h × w pixels is tiled under these options; undefined = one pass. */
export function vaeTilePlan(h: number, w: number, t: Required<VaeTilingOptions>): NativeTiling | undefined {
  const tile = t.mode === 'always' || (t.mode === 'auto' && h * w > t.maxPixels);
  return tile ? { tileSize: t.tileSize, overlap: t.overlap, globalMidBlock: t.globalMidBlock } : undefined;
}

function resolveTilingOptions(
  options: VaeTilingOptions | undefined,
  base: Readonly<Required<VaeTilingOptions>>,
  factor: number,
): Required<VaeTilingOptions> {
  if (options === undefined) return { ...base };
  if (typeof options !== 'object' || options === null) throw invalid(`Expected an object for tiling but received ${String(options)}`);
  const r = { ...base, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as Required<VaeTilingOptions>;
  if (!['auto', 'always', 'never'].includes(r.mode)) {
    throw invalid(`Expected 'auto', 'always' or 'never' for tiling.mode but received ${JSON.stringify(r.mode)}`);
  }
  if (!Number.isSafeInteger(r.maxPixels) || r.maxPixels < 1) {
    throw invalid(`Expected a positive integer for tiling.maxPixels but received ${r.maxPixels}`);
  }
  if (!Number.isSafeInteger(r.tileSize) || r.tileSize < factor || r.tileSize % factor !== 0) {
    throw invalid(`Expected a positive multiple of ${factor} for tiling.tileSize but received ${r.tileSize}`);
  }
  if (!Number.isSafeInteger(r.overlap) || r.overlap < 0 || r.overlap % factor !== 0 || r.overlap >= r.tileSize) {
    throw invalid(
      `Expected a multiple of ${factor} from 0 to below tiling.tileSize (${r.tileSize}) for tiling.overlap but received ${r.overlap}`,
    );
  }
  if (typeof r.globalMidBlock !== 'boolean') {
    throw invalid(`Expected true or false for tiling.globalMidBlock but received ${String(r.globalMidBlock)}`);
  }
  return r;
}
