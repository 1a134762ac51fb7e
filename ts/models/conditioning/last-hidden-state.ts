// SD 1.x and 2.x: one CLIP text encoder's last hidden state (for SD 2.x its diffusers config has
// one OpenCLIP layer less than the checkpoint, so this is the penultimate layer after the final
// layer norm, as diffusers runs it). No added conditions.
import type { Engine } from '../../engine.js';
import { gatherFrames } from '../../tensor-ops.js';
import { CLIPTokenizer } from '../../text/tokenizer.js';
import { CLIPTextEncoder } from '../clip-text.js';
import { PromptTable, type Conditioner, type Conditioning, type TextEncoderFiles } from './types.js';

class LastHiddenState implements Conditioner {
  constructor(
    private readonly engine: Engine,
    private readonly tokenizer: CLIPTokenizer,
    private readonly encoder: CLIPTextEncoder,
  ) {}

  async encode(prompts: string[]): Promise<PromptTable> {
    const enc = this.tokenizer.encodeBatch(prompts);
    const { lastHiddenState } = await this.encoder.encode(enc.ids, prompts.length);
    return new PromptTable(prompts, lastHiddenState);
  }

  async rows(table: PromptTable, rows: string[]) {
    return { context: await gatherFrames(this.engine, table.context, rows.map((p) => table.row(p))) };
  }

  dispose(): void {
    this.encoder.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}

export const LAST_HIDDEN_STATE: Conditioning = {
  id: 'last-hidden-state',
  description: "the text encoder's last hidden state",
  encoders: [{ folder: 'text_encoder', tokenizer: 'tokenizer' }],
  async load(engine: Engine, [files]: TextEncoderFiles[]): Promise<Conditioner> {
    const tokenizer = await CLIPTokenizer.fromFolder(files!.tokenizerDir);
    const encoder = await CLIPTextEncoder.load(engine, { config: files!.config, weights: files!.weights, configSource: files!.source });
    return new LastHiddenState(engine, tokenizer, encoder);
  },
};
