// How prompts become the UNet's text inputs (DESIGN.md §7 "conditioning"): one kind per model
// family, named by the family descriptor and used by the pipelines without knowing which it is,
// for the positive, negative and inversion prompts alike.
import type { Engine } from '../../engine.js';
import { IndetailError } from '../../errors.js';
import type { Tensor } from '../../tensor.js';
import type { RawConfig } from '../config-check.js';
import type { UNetTextInputs } from '../unet-inputs.js';
import type { WeightSpec } from '../weights.js';

/** One text encoder of a model on disk, with its tokenizer. */
export interface TextEncoderFiles {
  /** The diffusers folder name: text_encoder, text_encoder_2. */
  folder: string;
  config: RawConfig;
  weights: WeightSpec;
  tokenizerDir: string;
  /** Names the config in messages. */
  source: string;
}

/** Image size in pixels. */
export interface ImageSize {
  width: number;
  height: number;
}

/** The distinct prompts of a call, each encoded once: row i of every tensor is prompts[i]. */
export class PromptTable implements Disposable {
  readonly prompts: string[];
  /** [P, L, cross_attention_dim]: what the UNet cross-attends to. */
  readonly context: Tensor;
  /** [P, D]: the pooled embedding of the UNet's added conditions (SDXL), when the family has one. */
  readonly pooled: Tensor | undefined;

  constructor(prompts: string[], context: Tensor, pooled?: Tensor) {
    this.prompts = prompts;
    this.context = context;
    this.pooled = pooled;
  }

  /** The row of `prompt`. */
  row(prompt: string): number {
    const i = this.prompts.indexOf(prompt);
    if (i < 0) throw new IndetailError('ERR_INDETAIL_INTERNAL', `prompt ${JSON.stringify(prompt)} was not encoded`);
    return i;
  }

  dispose(): void {
    this.context.dispose();
    this.pooled?.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** A loaded conditioning: tokenizers and text encoders on an engine. */
export interface Conditioner extends Disposable {
  /** Encodes each distinct prompt once. */
  encode(prompts: string[]): Promise<PromptTable>;
  /** The UNet text inputs of a batch whose row r has the prompt rows[r], for an image of `size` (tensors owned by the caller). */
  rows(table: PromptTable, rows: string[], size: ImageSize): Promise<UNetTextInputs>;
  dispose(): void;
}

/** A kind of conditioning, as a family descriptor names it. */
export interface Conditioning {
  id: 'last-hidden-state' | 'dual-penultimate-pooled';
  /** For messages and `indetail info`. */
  description: string;
  /** The text encoders it reads (diffusers folder names) and their tokenizers, in order. */
  encoders: ReadonlyArray<{ folder: string; tokenizer: string }>;
  load(engine: Engine, encoders: TextEncoderFiles[]): Promise<Conditioner>;
}

/** Disposes the tensors of UNet text inputs. */
export function disposeTextInputs(t: UNetTextInputs | undefined): void {
  t?.context.dispose();
  t?.added?.textEmbeds.dispose();
}
