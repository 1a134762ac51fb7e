// The CLIP text encoder (Stable Diffusion's text_encoder): token ids -> the hidden states the
// UNet cross-attends to. Loaded from a diffusers text_encoder/ folder, or from a config plus a
// weight spec (a single-file checkpoint mapped by prefix, or seeded random weights).
import path from 'node:path';
import type { Engine } from '../engine.js';
import { IndetailError, nativeAsync } from '../errors.js';
import { addon, type NativeEngine, type NativeTensor } from '../native/addon.js';
import { Tensor } from '../tensor.js';
import { parseClipTextConfig, type ClipTextConfig } from './clip-text-config.js';
import { readConfigFile, type RawConfig } from './config-check.js';
import { componentWeights, nativeWeightSpec, type WeightSpec } from './weights.js';

/** Where a text encoder comes from. */
export type TextEncoderSource =
  /** A diffusers text_encoder/ folder (config.json + model.safetensors). */
  | { dir: string }
  /** A raw config.json object and its weights; `configSource` names the config in messages. */
  | { config: RawConfig; weights: WeightSpec; configSource?: string };

export interface TextEncodeOptions {
  /** Also return the pooled output (the hidden state at each row's eos token) and, with a projection, textEmbeds. Default false. */
  pooled?: boolean;
  /** Also return the input of the last layer (transformers' hidden_states[-2], no final layer norm: SDXL's conditioning). Default false. */
  penultimate?: boolean;
}

export interface TextEncoderOutput {
  /** [batch, length, hidden_size]: what the SD 1.x / 2.x UNet attends to. */
  lastHiddenState: Tensor;
  /** [batch, length, hidden_size], when asked for: the output of the second-to-last layer, before the final layer norm. */
  penultimateHiddenState?: Tensor;
  /** [batch, hidden_size], when asked for. */
  pooled?: Tensor;
  /** [batch, projection_dim]: text_projection(pooled), with `pooled` when the encoder has a projection (config projection_dim > 0). */
  textEmbeds?: Tensor;
}

interface NativeClipText {
  readonly disposed: boolean;
  encode(
    ids: Int32Array,
    batch: number,
    pooled: boolean,
    penultimate: boolean,
  ): Promise<{ lastHiddenState: NativeTensor; penultimateHiddenState?: NativeTensor; pooled?: NativeTensor; textEmbeds?: NativeTensor }>;
  dispose(): void;
}
type NativeLoad = (engine: NativeEngine, config: string, weights: Record<string, unknown>) => Promise<NativeClipText>;

export class CLIPTextEncoder implements Disposable {
  /** @internal */
  readonly native: NativeClipText;
  readonly config: ClipTextConfig;

  private constructor(native: NativeClipText, config: ClipTextConfig) {
    this.native = native;
    this.config = config;
  }

  /** Reads the config and loads every weight onto the engine's backend (checked against the config). */
  static async load(engine: Engine, source: TextEncoderSource): Promise<CLIPTextEncoder> {
    let raw: RawConfig;
    let configSource: string;
    let weights: WeightSpec;
    if (source && 'dir' in source) {
      if (typeof source.dir !== 'string' || source.dir.length === 0) {
        throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `Expected a folder path for dir but received ${JSON.stringify(source.dir)}`);
      }
      configSource = path.join(source.dir, 'config.json');
      raw = await readConfigFile(configSource);
      const config = parseClipTextConfig(raw, configSource);
      weights = await componentWeights(source.dir, ['model']);
      return CLIPTextEncoder.create(engine, config, weights);
    }
    if (!source || typeof source.config !== 'object' || source.config === null || !source.weights) {
      throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', 'Expected { dir } or { config, weights } for the text encoder source');
    }
    raw = source.config;
    configSource = source.configSource ?? 'text encoder config';
    return CLIPTextEncoder.create(engine, parseClipTextConfig(raw, configSource), source.weights);
  }

  private static async create(engine: Engine, config: ClipTextConfig, weights: WeightSpec): Promise<CLIPTextEncoder> {
    const load = addon().loadClipTextModel as NativeLoad;
    const spec = nativeWeightSpec(weights);
    const native = await nativeAsync(() => load(engine.native, JSON.stringify(config), spec));
    return new CLIPTextEncoder(native, config);
  }

  get disposed(): boolean {
    return this.native.disposed;
  }

  /**
   * Encodes `batch` rows of token ids laid out one after the other (each row as long as the
   * tokenizer's max length, 77 for Stable Diffusion). The ids are checked against the vocabulary.
   */
  async encode(ids: Int32Array, batch = 1, options: TextEncodeOptions = {}): Promise<TextEncoderOutput> {
    if (!(ids instanceof Int32Array)) {
      throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `Expected an Int32Array for ids but received ${describe(ids)}`);
    }
    if (!Number.isSafeInteger(batch) || batch <= 0) {
      throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `Expected a positive integer for batch but received ${batch}`);
    }
    const length = ids.length / batch;
    const maxLength = this.config.max_position_embeddings;
    if (!Number.isInteger(length) || length < 1 || length > maxLength) {
      throw new IndetailError(
        'ERR_INDETAIL_INVALID_ARGUMENT',
        `Expected ids of batch × length values with length 1 to ${maxLength} for batch ${batch} but received ${ids.length} ids`,
      );
    }
    const vocab = this.config.vocab_size;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (id < 0 || id >= vocab) {
        throw new IndetailError(
          'ERR_INDETAIL_INVALID_ARGUMENT',
          `Expected token ids in 0 to ${vocab - 1} but ids[${i}] (row ${Math.floor(i / length)}, position ${i % length}) is ${id}`,
        );
      }
    }
    const out = await nativeAsync(() => this.native.encode(ids, batch, options.pooled === true, options.penultimate === true));
    return {
      lastHiddenState: new Tensor(out.lastHiddenState),
      ...(out.penultimateHiddenState ? { penultimateHiddenState: new Tensor(out.penultimateHiddenState) } : {}),
      ...(out.pooled ? { pooled: new Tensor(out.pooled) } : {}),
      ...(out.textEmbeds ? { textEmbeds: new Tensor(out.textEmbeds) } : {}),
    };
  }

  dispose(): void {
    this.native.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'an object';
  return typeof v;
}
