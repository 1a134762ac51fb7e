// Golden kind 'clip_preprocess': CLIPImageProcessor on pictures of several shapes, from the
// processor config the case names: the decoded PNG, the bicubic resize (exact: a port of
// Pillow's), the floor crop offsets, and the normalised pixel values. The crop-rounding trap is
// checked too: torchvision's rounded offset reproduces the manifest's openai-transform difference.
import assert from 'node:assert/strict';
import path from 'node:path';
import { clipPreprocess, clipResizeShape, parseClipProcessorConfig } from '../../../dist/index.js';
import { crop } from '../../../dist/image/index.js';
import { readConfigFile } from '../../../dist/models/config-check.js';
import { maxAbsDiff } from '../../helpers/compare.mjs';
import { chwToHwc, expectClose, openGoldenFile, readPngMatching } from '../../helpers/eval-fixtures.mjs';

export const kind = 'clip_preprocess';

// openai/CLIP's torchvision CenterCrop offset: int(round(d / 2)), round half to even.
const roundedOffset = (d) => {
  const h = d / 2;
  const r = Math.round(h);
  return Math.abs(h % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
};

export async function run(c, ctx) {
  const p = c.parameters;
  const cfgFile = path.join(ctx.root, p.preprocessor_config);
  const cfg = parseClipProcessorConfig(await readConfigFile(cfgFile), cfgFile);
  const g = await openGoldenFile(ctx.file);
  try {
    for (const [name, spec] of Object.entries(p.images)) {
      const img = await readPngMatching(ctx, spec.png, g.read(`${name}_u8`), name);
      assert.deepEqual([img.height, img.width], spec.source_hw, `${name}: source size`);
      const [h, w] = clipResizeShape(img.height, img.width, cfg.shortestEdge);
      assert.deepEqual([h, w], spec.resized_hw, `${name}: resized size`);
      assert.deepEqual([Math.floor((h - cfg.cropHeight) / 2), Math.floor((w - cfg.cropWidth) / 2)], spec.crop_top_left, `${name}: crop offset`);

      const out = clipPreprocess(img, cfg);
      const resized = g.read(`${name}_resized_u8`);
      let differ = 0;
      for (let i = 0; i < resized.data.length; i++) if (out.resized.data[i] !== resized.data[i]) differ++;
      assert.equal(differ, 0, `${name}: ${differ} resized u8 values differ from Pillow's bicubic`);
      const expected = g.read(`${name}_pixel_values`);
      expectClose(ctx.t, out.pixels, chwToHwc(expected), { atol: c.tolerance.pixel_values_abs }, `${name}.pixel_values`);

      // The rounding trap: with torchvision's rounded crop offset the pixels move by one where the margin is odd.
      const rounded = crop(out.resized, roundedOffset(w - cfg.cropWidth), roundedOffset(h - cfg.cropHeight), cfg.cropWidth, cfg.cropHeight);
      const diff = maxAbsDiff(clipPreprocess(rounded, cfg).pixels, chwToHwc(expected));
      const reported = p.openai_clip_transform_max_abs_diff[name];
      assert.ok(Math.abs(diff - reported) <= 1e-5, `${name}: the rounded-offset crop differs by ${diff}, the manifest says ${reported}`);
    }
  } finally {
    g.close();
  }
}
