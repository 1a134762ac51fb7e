// Golden kind 'clip_text_embeds': the case's prompts through the CLIP model folder's tokenizer
// (ids exactly) and CLIPModel.get_text_features (text_projection of the state at the first
// <|endoftext|>), raw and L2-normalised.
import assert from 'node:assert/strict';
import { evalModels, expectClose, normalized, openGoldenFile } from '../../helpers/eval-fixtures.mjs';

export const kind = 'clip_text_embeds';

export async function run(c, ctx) {
  const model = await evalModels(ctx).clip();
  const g = await openGoldenFile(ctx.file);
  try {
    const prompts = c.parameters.prompts;
    const enc = model.tokenizer.encodeBatch(prompts);
    const ids = g.read('input_ids');
    assert.deepEqual(enc.shape, ids.shape, 'input_ids shape');
    assert.deepEqual(Array.from(enc.ids), Array.from(ids.data), 'tokenizer ids');
    const [batch, length] = ids.shape;
    const eos = Array.from({ length: batch }, (_, b) => {
      const row = Array.from(ids.data.subarray(b * length, (b + 1) * length));
      return row.indexOf(Math.max(...row));
    });
    assert.deepEqual(eos, Array.from(g.read('eos_positions').data), 'pooling positions (first maximal id)');

    const got = await model.textEmbeddings(prompts);
    const tol = { atol: c.tolerance.abs };
    assert.equal(got[0].length, c.outputs.text_embeds.shape[1], 'text_embeds width');
    const flat = (rows) => Float32Array.from(rows.flatMap((r) => Array.from(r)));
    expectClose(ctx.t, flat(got), g.read('text_embeds').data, tol, `${c.name}.text_embeds`);
    expectClose(ctx.t, flat(got.map(normalized)), g.read('text_embeds_normalized').data, tol, `${c.name}.text_embeds_normalized`);
  } finally {
    g.close();
  }
}
