// Golden kind 'clip_image_embeds': CLIPModel.get_image_features of the stored pixel values (the
// clip_preprocess outputs the case names, rows in the order of its `images`), raw and L2-normalised.
import assert from 'node:assert/strict';
import path from 'node:path';
import { chwToHwc, evalModels, expectClose, normalized, openGoldenFile, splitRows } from '../../helpers/eval-fixtures.mjs';

export const kind = 'clip_image_embeds';

export async function run(c, ctx) {
  const source = /(\S+\.safetensors)/.exec(c.inputs.pixel_values)?.[1];
  assert.ok(source, `case ${c.name}: inputs.pixel_values names no .safetensors file`);
  const { engine, clip } = evalModels(ctx);
  const model = await clip();
  const inputs = await openGoldenFile(path.join(path.dirname(ctx.file), source));
  const g = await openGoldenFile(ctx.file);
  try {
    const images = c.parameters.images;
    const frames = images.map((name) => inputs.read(`${name}_pixel_values`));
    const [, h, w] = frames[0].shape;
    const batch = new Float32Array(images.length * h * w * 3);
    frames.forEach((f, i) => batch.set(chwToHwc(f), i * h * w * 3));
    const pixels = engine.tensor(batch, [images.length, h, w, 3]);
    const embeds = await model.vision.imageEmbeds(pixels);
    const got = await embeds.readFloat32();
    assert.deepEqual(embeds.shape, c.outputs.image_embeds.shape, 'image_embeds shape');
    pixels.dispose();
    embeds.dispose();
    const tol = { atol: c.tolerance.abs };
    expectClose(ctx.t, got, g.read('image_embeds').data, tol, `${c.name}.image_embeds`);
    const unit = new Float32Array(splitRows(got, images.length).flatMap((r) => Array.from(normalized(r))));
    expectClose(ctx.t, unit, g.read('image_embeds_normalized').data, tol, `${c.name}.image_embeds_normalized`);
  } finally {
    inputs.close();
    g.close();
  }
}
