// SDXL (StableDiffusionXLPipeline.encode_prompt): two tokenizers and two CLIP text encoders; the
// UNet cross-attends to their penultimate hidden states (before the final layer norm)
// concatenated along the channels (text_encoder first), and its added conditions are the second
// encoder's pooled, projected output (text_embeds) and the time ids (H, W, 0, 0, H, W): original
// size, crop top-left, target size, all the image's size. A negative or empty prompt is encoded
// like any other (the method always passes its negative prompts, so SDXL's
// force_zeros_for_empty_prompt never applies).
import type { Engine } from '../../engine.js';
import { IndetailError } from '../../errors.js';
import { gatherFrames } from '../../tensor-ops.js';
import { CLIPTokenizer } from '../../text/tokenizer.js';
import { CLIPTextEncoder } from '../clip-text.js';
import type { UNetTextInputs } from '../unet-inputs.js';
import { PromptTable, type Conditioner, type Conditioning, type ImageSize, type TextEncoderFiles } from './types.js';

/** SDXL's time ids of an image: original size (H, W), crop top-left (0, 0), target size (H, W). */
export function sdxlTimeIds({ width, height }: ImageSize): number[] {
  return [height, width, 0, 0, height, width];
}

class DualPenultimatePooled implements Conditioner {
  constructor(
    private readonly engine: Engine,
    private readonly parts: Array<{ tokenizer: CLIPTokenizer; encoder: CLIPTextEncoder }>,
  ) {}

  async encode(prompts: string[]): Promise<PromptTable> {
    const [first, second] = this.parts as [(typeof this.parts)[0], (typeof this.parts)[0]];
    const a = await first.encoder.encode(first.tokenizer.encodeBatch(prompts).ids, prompts.length, { penultimate: true });
    const b = await second.encoder.encode(second.tokenizer.encodeBatch(prompts).ids, prompts.length, { penultimate: true, pooled: true });
    try {
      const x = a.penultimateHiddenState!;
      const y = b.penultimateHiddenState!;
      const [n, length] = x.shape;
      if (y.shape[1] !== length) {
        throw new IndetailError('ERR_INDETAIL_BAD_FILE', `the two tokenizers pad to different lengths (${length} and ${y.shape[1]}); SDXL concatenates their encodings token by token`);
      }
      const context = this.engine.empty([n!, length!, x.shape[2]! + y.shape[2]!]);
      await this.engine.op('concat_channels', { a: x, b: y, out: context }, { sync: false });
      const pooled = b.textEmbeds!;
      return new PromptTable(prompts, context, pooled);
    } finally {
      for (const t of [a.lastHiddenState, a.penultimateHiddenState, b.lastHiddenState, b.penultimateHiddenState, b.pooled]) t?.dispose();
    }
  }

  async rows(table: PromptTable, rows: string[], size: ImageSize): Promise<UNetTextInputs> {
    const index = rows.map((p) => table.row(p));
    const context = await gatherFrames(this.engine, table.context, index);
    const textEmbeds = await gatherFrames(this.engine, table.pooled!, index);
    return { context, added: { textEmbeds, timeIds: sdxlTimeIds(size) } };
  }

  dispose(): void {
    for (const p of this.parts) p.encoder.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}

export const DUAL_PENULTIMATE_POOLED: Conditioning = {
  id: 'dual-penultimate-pooled',
  description: "two text encoders' penultimate hidden states concatenated, the second's pooled projection and the time ids",
  encoders: [
    { folder: 'text_encoder', tokenizer: 'tokenizer' },
    { folder: 'text_encoder_2', tokenizer: 'tokenizer_2' },
  ],
  async load(engine: Engine, files: TextEncoderFiles[]): Promise<Conditioner> {
    if (files.length !== 2) throw new IndetailError('ERR_INDETAIL_INTERNAL', `SDXL conditioning needs two text encoders, got ${files.length}`);
    const parts: Array<{ tokenizer: CLIPTokenizer; encoder: CLIPTextEncoder }> = [];
    try {
      for (const f of files) {
        const tokenizer = await CLIPTokenizer.fromFolder(f.tokenizerDir);
        parts.push({ tokenizer, encoder: await CLIPTextEncoder.load(engine, { config: f.config, weights: f.weights, configSource: f.source }) });
      }
    } catch (err) {
      for (const p of parts) p.encoder.dispose();
      throw err;
    }
    if (parts[1]!.encoder.config.projection_dim === 0) {
      for (const p of parts) p.encoder.dispose();
      throw new IndetailError('ERR_INDETAIL_UNSUPPORTED', `${files[1]!.source}: SDXL's second text encoder must be a CLIPTextModelWithProjection (its pooled projection conditions the UNet)`);
    }
    return new DualPenultimatePooled(engine, parts);
  },
};
