// A CLIP model folder as transformers saves a CLIPModel (openai/clip-vit-large-patch14: config.json
// with text_config, vision_config and projection_dim; model.safetensors; the tokenizer files;
// preprocessor_config.json), loaded on an Engine for the CLIP metrics: image embeddings
// (get_image_features) and text embeddings (get_text_features, pooled at the first eos token).
import path from 'node:path';
import type { Engine } from '../engine.js';
import { IndetailError } from '../errors.js';
import type { RgbImage } from '../image/index.js';
import { clipPreprocess, parseClipProcessorConfig, type ClipProcessorConfig } from '../metrics/clip-preprocess.js';
import { CLIPTokenizer } from '../text/tokenizer.js';
import { CLIPTextEncoder } from './clip-text.js';
import { CLIPVisionEncoder } from './clip-vision.js';
import { ConfigChecker, readConfigFile, type RawConfig } from './config-check.js';
import { parseClipVisionConfig } from './vit-config.js';
import { transformersWeights } from './vit.js';
import type { WeightSpec } from './weights.js';

export class CLIPModel implements Disposable {
  readonly text: CLIPTextEncoder;
  readonly vision: CLIPVisionEncoder;
  readonly tokenizer: CLIPTokenizer;
  readonly processor: ClipProcessorConfig;
  readonly engine: Engine;
  readonly dir: string;

  private constructor(engine: Engine, dir: string, parts: { text: CLIPTextEncoder; vision: CLIPVisionEncoder; tokenizer: CLIPTokenizer; processor: ClipProcessorConfig }) {
    this.engine = engine;
    this.dir = dir;
    this.text = parts.text;
    this.vision = parts.vision;
    this.tokenizer = parts.tokenizer;
    this.processor = parts.processor;
  }

  /**
   * Loads a CLIPModel folder. `weights` replaces its model.safetensors (e.g. `{ random: seed }`
   * for benchmarks with the folder's shapes); `tokenizerDir` names another folder of tokenizer files.
   */
  static async load(engine: Engine, dir: string, options: { weights?: WeightSpec; tokenizerDir?: string } = {}): Promise<CLIPModel> {
    if (typeof dir !== 'string' || dir.length === 0) {
      throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `Expected a CLIP model folder for dir but received ${JSON.stringify(dir)}`);
    }
    const configFile = path.join(dir, 'config.json');
    const raw = await readConfigFile(configFile);
    const c = new ConfigChecker(raw, configFile);
    c.oneOf('model_type', ['clip'], 'clip');
    const textConfig = { ...subConfig(raw, 'text_config', configFile), architectures: ['CLIPTextModelWithProjection'], projection_dim: raw.projection_dim ?? 512 };
    const visionConfig = parseClipVisionConfig(subConfig(raw, 'vision_config', configFile), raw.projection_dim, `${configFile} vision_config`);
    const processorFile = path.join(dir, 'preprocessor_config.json');
    const processor = parseClipProcessorConfig(await readConfigFile(processorFile), processorFile);
    if (processor.cropHeight !== visionConfig.image_size || processor.cropWidth !== visionConfig.image_size) {
      throw new IndetailError(
        'ERR_INDETAIL_BAD_FILE',
        `${processorFile}: crop_size ${processor.cropHeight}x${processor.cropWidth} does not match the vision tower's image_size ${visionConfig.image_size}`,
      );
    }
    const tokenizer = await CLIPTokenizer.fromFolder(options.tokenizerDir ?? dir);
    const weights = options.weights ?? (await transformersWeights(dir));
    const text = await CLIPTextEncoder.load(engine, { config: textConfig, weights, configSource: `${configFile} text_config` });
    try {
      const vision = await CLIPVisionEncoder.load(engine, visionConfig, weights);
      return new CLIPModel(engine, dir, { text, vision, tokenizer, processor });
    } catch (err) {
      text.dispose();
      throw err;
    }
  }

  /** Projected image embeddings (not L2-normalised), one per picture, each through CLIPImageProcessor. */
  async imageEmbeddings(images: readonly RgbImage[]): Promise<Float32Array[]> {
    if (images.length === 0) return [];
    const { cropHeight: h, cropWidth: w } = this.processor;
    const batch = new Float32Array(images.length * h * w * 3);
    images.forEach((img, i) => batch.set(clipPreprocess(img, this.processor).pixels, i * h * w * 3));
    const pixels = this.engine.tensor(batch, [images.length, h, w, 3]);
    try {
      const embeds = await this.vision.imageEmbeds(pixels);
      try {
        return rows(await embeds.readFloat32(), images.length);
      } finally {
        embeds.dispose();
      }
    } finally {
      pixels.dispose();
    }
  }

  /** Projected text embeddings (not L2-normalised): tokenised with padding to the tokenizer's max length. */
  async textEmbeddings(texts: readonly string[]): Promise<Float32Array[]> {
    if (texts.length === 0) return [];
    const enc = this.tokenizer.encodeBatch(texts);
    const out = await this.text.encode(enc.ids, texts.length, { pooled: true });
    try {
      return rows(await out.textEmbeds!.readFloat32(), texts.length);
    } finally {
      out.lastHiddenState.dispose();
      out.pooled?.dispose();
      out.textEmbeds?.dispose();
    }
  }

  dispose(): void {
    this.vision.dispose();
    this.text.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}

function subConfig(raw: RawConfig, field: string, file: string): RawConfig {
  const v = raw[field] ?? {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new IndetailError('ERR_INDETAIL_BAD_FILE', `${file}: expected an object for '${field}' but found ${JSON.stringify(v)}`);
  }
  return v as RawConfig;
}

function rows(data: Float32Array, n: number): Float32Array[] {
  const width = data.length / n;
  return Array.from({ length: n }, (_, i) => data.slice(i * width, (i + 1) * width));
}
