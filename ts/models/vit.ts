// A Vision Transformer as transformers' ViTModel holds it (DINO: facebook/dino-vitb8 ...) on an
// Engine, for the structure metrics: the keys of chosen blocks (CLS token first, heads
// concatenated) and their cosine self-similarity. Inputs of any size: the position embeddings
// are interpolated as DINO does when the patch grid is not the config's.
import path from 'node:path';
import type { Engine } from '../engine.js';
import { IndetailError, nativeAsync } from '../errors.js';
import { addon, type NativeEngine, type NativeTensor } from '../native/addon.js';
import { Tensor } from '../tensor.js';
import { readConfigFile } from './config-check.js';
import { parseVitConfig, type VitModelConfig } from './vit-config.js';
import { componentWeights, nativeWeightSpec, type WeightSpec } from './weights.js';

interface NativeVit {
  readonly disposed: boolean;
  keys(pixels: NativeTensor, layers: number[]): Promise<NativeTensor[]>;
  selfSimilarity(pixels: NativeTensor, layer: number): Promise<NativeTensor>;
  dispose(): void;
}
type NativeLoad = (engine: NativeEngine, config: string, weights: Record<string, unknown>) => Promise<NativeVit>;

/** How to convert a transformers model's pickle weights. */
export const TRANSFORMERS_CONVERSION = 'with transformers: AutoModel.from_pretrained(dir).save_pretrained(out, safe_serialization=True)';

/** The weights of a transformers model folder: model.safetensors (pickles refused with conversion advice). */
export function transformersWeights(dir: string): Promise<WeightSpec> {
  return componentWeights(dir, ['model', 'pytorch_model'], TRANSFORMERS_CONVERSION);
}

export class ViTModel implements Disposable {
  /** @internal */
  readonly native: NativeVit;
  readonly config: VitModelConfig;
  readonly engine: Engine;

  private constructor(engine: Engine, native: NativeVit, config: VitModelConfig) {
    this.engine = engine;
    this.native = native;
    this.config = config;
  }

  /**
   * From a transformers ViTModel folder (config.json + model.safetensors; `weights` replaces the
   * folder's, e.g. `{ random: seed }` for benchmarks), or a config and weights.
   */
  static async load(engine: Engine, source: { dir: string; weights?: WeightSpec } | { config: VitModelConfig; weights: WeightSpec }): Promise<ViTModel> {
    let config: VitModelConfig;
    let weights: WeightSpec;
    if ('dir' in source) {
      if (typeof source.dir !== 'string' || source.dir.length === 0) {
        throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `Expected a ViT model folder for dir but received ${JSON.stringify(source.dir)}`);
      }
      const file = path.join(source.dir, 'config.json');
      config = parseVitConfig(await readConfigFile(file), file);
      weights = source.weights ?? (await vitWeights(await transformersWeights(source.dir)));
    } else {
      config = source.config;
      weights = source.weights;
    }
    const load = addon().loadVitModel as NativeLoad;
    const spec = nativeWeightSpec(weights);
    const native = await nativeAsync(() => load(engine.native, JSON.stringify(config), spec));
    return new ViTModel(engine, native, config);
  }

  get disposed(): boolean {
    return this.native.disposed;
  }

  private checkLayer(layer: unknown, name: string): number {
    const n = this.config.num_hidden_layers;
    if (typeof layer !== 'number' || !Number.isInteger(layer) || layer < 0 || layer >= n) {
      throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `Expected a block index between 0 and ${n - 1} for ${name} but received ${String(layer)}`);
    }
    return layer;
  }

  /** pixels [N, H, W, 3] (normalised) -> the keys of each block in `layers`: [N, tokens, hidden] each. */
  async keys(pixels: Tensor, layers: number[]): Promise<Tensor[]> {
    checkPixels(pixels);
    if (!Array.isArray(layers) || layers.length === 0) {
      throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', 'Expected a non-empty array of block indices for layers');
    }
    layers.forEach((l, i) => this.checkLayer(l, `layers[${i}]`));
    const out = await nativeAsync(() => this.native.keys(pixels.native, layers));
    return out.map((t) => new Tensor(t));
  }

  /** pixels [N, H, W, 3] (normalised) -> [N, tokens, tokens]: cosine similarity of block `layer`'s keys. */
  async selfSimilarity(pixels: Tensor, layer: number): Promise<Tensor> {
    checkPixels(pixels);
    this.checkLayer(layer, 'layer');
    return new Tensor(await nativeAsync(() => this.native.selfSimilarity(pixels.native, layer)));
  }

  dispose(): void {
    this.native.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}

function checkPixels(pixels: unknown): void {
  if (!(pixels instanceof Tensor)) throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', 'Expected a Tensor [N, H, W, 3] for pixels');
}

// A ViTForImageClassification-style checkpoint holds the same tensors under "vit.".
async function vitWeights(spec: WeightSpec): Promise<WeightSpec> {
  if ('random' in spec) return spec;
  const file = spec.files[0]!.file;
  const prefixed = file.entry('embeddings.cls_token') === undefined && file.entry('vit.embeddings.cls_token') !== undefined;
  return prefixed ? { files: [{ file, prefix: 'vit.' }] } : spec;
}
