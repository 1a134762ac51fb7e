// QualityMetrics: the paper's scores on any pictures, with the encoders users bring (a CLIPModel
// folder such as openai/clip-vit-large-patch14 for CLIP-I / CLIP-T, a ViTModel folder such as
// facebook/dino-vitb8 for DINO-G / DINO-C).
//
//   const m = await QualityMetrics.load({ clip: 'clip-vit-large-patch14', dino: 'dino-vitb8' });
//   const s = await m.score({ images: ['g1.png', 'g2.png'], imagePrompt: 'p.png', text: 'an owl' });
//   m.dispose();
import { Engine, type BackendName } from '../engine.js';
import { IndetailError } from '../errors.js';
import { readImage, type RgbImage } from '../image/index.js';
import { CLIPModel } from '../models/clip-model.js';
import { ViTModel } from '../models/vit.js';
import type { WeightSpec } from '../models/weights.js';
import { dinoPreprocess } from './dino-preprocess.js';
import {
  clipScoresFromEmbeddings,
  dinoConditionAlignment,
  dinoDiversity,
  type ClipScores,
  type SelfSimilarityMap,
} from './scores.js';

/** A picture: a file path, encoded bytes, or raw RGB. */
export type MetricImage = string | Uint8Array | RgbImage;

export interface QualityMetricsOptions {
  /** A CLIPModel folder (config.json, model.safetensors, tokenizer files, preprocessor_config.json). */
  clip?: string;
  /** Tokenizer files from another folder than `clip`. */
  clipTokenizerDir?: string;
  /** A ViTModel folder (config.json, model.safetensors) of a DINO ViT. */
  dino?: string;
  /** DINO block whose keys are compared (default: the last block, 11 for ViT-B/8 as in Splice). */
  dinoLayer?: number;
  /** Run on this engine (default: a new one on `backend`). */
  engine?: Engine;
  /** Default 'cpu' when no engine is given. */
  backend?: 'auto' | BackendName;
  /** Benchmarks: replace the folders' weights (e.g. `{ random: 1 }`), keeping their configs. */
  clipWeights?: WeightSpec;
  dinoWeights?: WeightSpec;
}

export interface QualityScores extends ClipScores {
  dinoG?: number;
  dinoC?: number;
  /** DINO-G's pairs [i, j] and distances. */
  dinoPairs?: Array<[number, number]>;
  dinoPairDistances?: number[];
  /** DINO-C's distance of each generated image. */
  dinoConditionDistances?: number[];
}

export interface ScoreInputs {
  /** The generated images. */
  images: readonly MetricImage[];
  /** For CLIP-I. */
  imagePrompt?: MetricImage;
  /** For CLIP-T: the prompt without the quality suffix. */
  text?: string;
  /** For DINO-C: the ControlNet condition as given to the ControlNet (same size as the images). */
  condition?: MetricImage;
}

const CLIP_BATCH = 8;

async function rgb(img: MetricImage): Promise<RgbImage> {
  if (typeof img === 'object' && img !== null && !(img instanceof Uint8Array)) {
    if (!(img.data instanceof Uint8Array) || img.data.length !== img.width * img.height * 3) {
      throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', 'Expected { data, width, height } with width × height × 3 RGB bytes');
    }
    return img;
  }
  return readImage(img);
}

export class QualityMetrics implements Disposable {
  readonly clip: CLIPModel | undefined;
  readonly dino: ViTModel | undefined;
  readonly dinoLayer: number;
  readonly engine: Engine;
  private readonly ownsEngine: boolean;

  private constructor(engine: Engine, ownsEngine: boolean, clip: CLIPModel | undefined, dino: ViTModel | undefined, dinoLayer: number) {
    this.engine = engine;
    this.ownsEngine = ownsEngine;
    this.clip = clip;
    this.dino = dino;
    this.dinoLayer = dinoLayer;
  }

  static async load(options: QualityMetricsOptions): Promise<QualityMetrics> {
    if (typeof options !== 'object' || options === null || (options.clip === undefined && options.dino === undefined)) {
      throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', 'Expected { clip } and/or { dino } model folders for the quality metrics');
    }
    const engine = options.engine ?? new Engine({ backend: options.backend ?? 'cpu' });
    let clip: CLIPModel | undefined;
    try {
      if (options.clip !== undefined) {
        clip = await CLIPModel.load(engine, options.clip, {
          ...(options.clipWeights ? { weights: options.clipWeights } : {}),
          ...(options.clipTokenizerDir ? { tokenizerDir: options.clipTokenizerDir } : {}),
        });
      }
      const dino = options.dino === undefined
        ? undefined
        : await ViTModel.load(engine, options.dinoWeights ? { dir: options.dino, weights: options.dinoWeights } : { dir: options.dino });
      const layers = dino?.config.num_hidden_layers ?? 1;
      const layer = options.dinoLayer ?? layers - 1;
      if (!Number.isInteger(layer) || layer < 0 || layer >= layers) {
        dino?.dispose();
        throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `Expected a DINO block between 0 and ${layers - 1} for dinoLayer but received ${String(layer)}`);
      }
      return new QualityMetrics(engine, options.engine === undefined, clip, dino, layer);
    } catch (err) {
      clip?.dispose();
      if (options.engine === undefined) engine.dispose();
      throw err;
    }
  }

  /** CLIP-I (with imagePrompt) and CLIP-T (with text). */
  async clipScores({ images, imagePrompt, text }: Omit<ScoreInputs, 'condition'>): Promise<ClipScores> {
    const clip = this.need(this.clip, 'clip', 'CLIP');
    const pictures = await Promise.all(images.map(rgb));
    if (imagePrompt !== undefined) pictures.push(await rgb(imagePrompt));
    const embeds: Float32Array[] = [];
    for (let i = 0; i < pictures.length; i += CLIP_BATCH) embeds.push(...(await clip.imageEmbeddings(pictures.slice(i, i + CLIP_BATCH))));
    const generated = embeds.slice(0, images.length);
    return clipScoresFromEmbeddings({
      generated,
      ...(imagePrompt !== undefined ? { imagePrompt: embeds[images.length]! } : {}),
      ...(text !== undefined ? { text: (await clip.textEmbeddings([text]))[0]! } : {}),
    });
  }

  /** The DINO self-similarity map of each picture (pictures of one size are run as one batch). */
  async dinoSelfSimilarity(images: readonly MetricImage[]): Promise<SelfSimilarityMap[]> {
    const dino = this.need(this.dino, 'dino', 'DINO');
    const inputs = (await Promise.all(images.map(rgb))).map((img) => dinoPreprocess(img));
    const out: SelfSimilarityMap[] = new Array(inputs.length);
    const bySize = new Map<string, number[]>();
    inputs.forEach((x, i) => bySize.set(`${x.height}x${x.width}`, [...(bySize.get(`${x.height}x${x.width}`) ?? []), i]));
    for (const idx of bySize.values()) {
      const { height, width } = inputs[idx[0]!]!;
      const batch = new Float32Array(idx.length * height * width * 3);
      idx.forEach((i, k) => batch.set(inputs[i]!.pixels, k * height * width * 3));
      const pixels = this.engine.tensor(batch, [idx.length, height, width, 3]);
      try {
        const sim = await dino.selfSimilarity(pixels, this.dinoLayer);
        const [, tokens] = sim.shape as [number, number, number];
        const data = await sim.readFloat32();
        sim.dispose();
        idx.forEach((i, k) => (out[i] = { tokens, data: data.slice(k * tokens * tokens, (k + 1) * tokens * tokens) }));
      } finally {
        pixels.dispose();
      }
    }
    return out;
  }

  /** DINO-G (two or more images) and DINO-C (with a condition). */
  async dinoScores({ images, condition }: Pick<ScoreInputs, 'images' | 'condition'>): Promise<QualityScores> {
    const maps = await this.dinoSelfSimilarity(condition !== undefined ? [...images, condition] : images);
    const generated = maps.slice(0, images.length);
    const out: QualityScores = {};
    if (generated.length >= 2) {
      const g = dinoDiversity(generated);
      Object.assign(out, { dinoG: g.dinoG, dinoPairs: g.pairs, dinoPairDistances: g.pairDistances });
    }
    if (condition !== undefined) {
      const c = dinoConditionAlignment(generated, maps[images.length]!);
      Object.assign(out, { dinoC: c.dinoC, dinoConditionDistances: c.distances });
    }
    return out;
  }

  /** Every score the loaded encoders and the given inputs allow. */
  async score(inputs: ScoreInputs): Promise<QualityScores> {
    if (!Array.isArray(inputs?.images) || inputs.images.length === 0) {
      throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', 'Expected a non-empty array of generated images for images');
    }
    const out: QualityScores = {};
    if (this.clip) Object.assign(out, await this.clipScores(inputs));
    if (this.dino) Object.assign(out, await this.dinoScores(inputs));
    return out;
  }

  private need<T>(model: T | undefined, option: string, name: string): T {
    if (!model) throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `the ${name} scores need a ${name} model: load QualityMetrics with { ${option} }`);
    return model;
  }

  dispose(): void {
    this.clip?.dispose();
    this.dino?.dispose();
    if (this.ownsEngine) this.engine.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}
