// CLIP's vision tower with its projection (CLIPModel.get_image_features) on an Engine:
// preprocessed pixels (NHWC, see metrics/clip-preprocess.ts) -> image embeddings.
import type { Engine } from '../engine.js';
import { IndetailError, nativeAsync } from '../errors.js';
import { addon, type NativeEngine, type NativeTensor } from '../native/addon.js';
import { Tensor } from '../tensor.js';
import type { ClipVisionConfig } from './vit-config.js';
import { nativeWeightSpec, type WeightSpec } from './weights.js';

interface NativeClipVision {
  readonly disposed: boolean;
  imageEmbeds(pixels: NativeTensor): Promise<NativeTensor>;
  dispose(): void;
}
type NativeLoad = (engine: NativeEngine, config: string, weights: Record<string, unknown>) => Promise<NativeClipVision>;

export class CLIPVisionEncoder implements Disposable {
  /** @internal */
  readonly native: NativeClipVision;
  readonly config: ClipVisionConfig;
  readonly engine: Engine;

  private constructor(engine: Engine, native: NativeClipVision, config: ClipVisionConfig) {
    this.engine = engine;
    this.native = native;
    this.config = config;
  }

  /** Loads every weight (names and shapes checked against the config) onto the engine's backend. */
  static async load(engine: Engine, config: ClipVisionConfig, weights: WeightSpec): Promise<CLIPVisionEncoder> {
    const load = addon().loadClipVisionModel as NativeLoad;
    const spec = nativeWeightSpec(weights);
    const native = await nativeAsync(() => load(engine.native, JSON.stringify(config), spec));
    return new CLIPVisionEncoder(engine, native, config);
  }

  get disposed(): boolean {
    return this.native.disposed;
  }

  /**
   * pixels: [N, image_size, image_size, 3] on this encoder's engine, normalised as the CLIP image
   * processor does -> [N, projection_dim] image embeddings (not L2-normalised).
   */
  async imageEmbeds(pixels: Tensor): Promise<Tensor> {
    if (!(pixels instanceof Tensor)) {
      throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', 'Expected a Tensor [N, H, W, 3] for pixels');
    }
    return new Tensor(await nativeAsync(() => this.native.imageEmbeds(pixels.native)));
  }

  dispose(): void {
    this.native.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}
