// Decoding the fixture PNGs with readImage gives the stored u8 pixels exactly, and the reference
// preprocessing loadImage(source_image.png, 128) gives input_image_u8 exactly (the control image likewise).
import assert from 'node:assert/strict';
import path from 'node:path';
import { loadImage, openSafetensors, readImage } from '../../../dist/index.js';

export const kind = 'images';

function assertPixelsEqual(img, expected, shape, label) {
  assert.deepEqual([img.height, img.width, 3], shape, `${label}: shape`);
  let diffs = 0;
  for (let i = 0; i < expected.length; i++) if (img.data[i] !== expected[i]) diffs++;
  assert.equal(diffs, 0, `${label}: ${diffs} of ${expected.length} values differ`);
}

export async function run(caseSpec, ctx) {
  const p = caseSpec.parameters;
  const tensors = await openSafetensors(ctx.file);
  try {
    const expected = (name) => ({ data: tensors.tensor(name).readSync(), shape: caseSpec.outputs[name].shape });
    // Each output tensor and the PNG holding the same pixels (the control image only in roots with a ControlNet).
    const pngs = { source_image_u8: p.source_png, input_image_u8: p.input_png, control_image_u8: p.control_png };
    const outputs = Object.keys(caseSpec.outputs);
    for (const name of outputs) assert.ok(pngs[name], `${caseSpec.name}: output ${name} has no PNG parameter this handler knows`);
    for (const name of outputs) {
      const e = expected(name);
      assertPixelsEqual(await readImage(path.join(ctx.root, pngs[name])), e.data, e.shape, `readImage(${pngs[name]})`);
    }
    const input = expected('input_image_u8');
    const size = input.shape[0];
    assertPixelsEqual(await loadImage(path.join(ctx.root, p.source_png), size), input.data, input.shape, `loadImage(${p.source_png}, ${size})`);
    if (outputs.includes('control_image_u8')) {
      const control = expected('control_image_u8');
      assertPixelsEqual(await loadImage(path.join(ctx.root, p.control_png), size), control.data, control.shape, `loadImage(${p.control_png}, ${size})`);
    }
  } finally {
    tensors.close();
  }
}
