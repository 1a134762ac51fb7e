// Golden kind 'metric_clip': CLIP-I and CLIP-T from the case's PNGs (image prompt + generated
// images) and text, end to end through QualityMetrics (decode, CLIPImageProcessor, both towers,
// cosines), plus the embeddings and per-image cosines on the way.
import assert from 'node:assert/strict';
import path from 'node:path';
import { evalModels, expectClose, openGoldenFile, readPngMatching } from '../../helpers/eval-fixtures.mjs';

export const kind = 'metric_clip';

export async function run(c, ctx) {
  const p = c.parameters;
  const models = evalModels(ctx);
  const clip = await models.clip();
  const g = await openGoldenFile(ctx.file);
  const metrics = await models.metrics({ clip: models.clipDir() });
  try {
    const prompt = await readPngMatching(ctx, c.pngs.prompt_image, g.read('prompt_image_u8'), 'prompt_image');
    const generated = [];
    for (let i = 0; i < p.num_generated; i++) {
      generated.push(await readPngMatching(ctx, c.pngs[`generated${i}`], g.read(`generated_u8_${i}`), `generated${i}`));
    }
    const ids = clip.tokenizer.encode(p.text).ids;
    assert.deepEqual(Array.from(ids), Array.from(g.read('input_ids').data), 'tokenizer ids of the text');

    const tol = { atol: c.tolerance.abs };
    const flat = (rows) => Float32Array.from(rows.flatMap((r) => Array.from(r)));
    expectClose(ctx.t, flat(await clip.imageEmbeddings([prompt, ...generated])), g.read('image_embeds').data, tol, `${c.name}.image_embeds`);
    expectClose(ctx.t, flat(await clip.textEmbeddings([p.text])), g.read('text_embeds').data, tol, `${c.name}.text_embeds`);

    // The public API, from the PNG files.
    const s = await metrics.clipScores({
      images: generated.map((_, i) => path.join(ctx.root, c.pngs[`generated${i}`])),
      imagePrompt: path.join(ctx.root, c.pngs.prompt_image),
      text: p.text,
    });
    expectClose(ctx.t, s.clipIPerImage, g.read('clip_i_per_image').data, tol, `${c.name}.clip_i_per_image`);
    expectClose(ctx.t, s.clipTPerImage, g.read('clip_t_per_image').data, tol, `${c.name}.clip_t_per_image`);
    expectClose(ctx.t, [s.clipI], g.read('clip_i').data, tol, `${c.name}.clip_i`);
    expectClose(ctx.t, [s.clipT], g.read('clip_t').data, tol, `${c.name}.clip_t`);
  } finally {
    metrics.dispose();
    g.close();
  }
}
