// The reference preprocessing (official load_img: centre crop + Pillow bicubic resize) on a
// 200x150 picture, within the manifest's abs_u8 tolerance; the diagnostic gives the measured error.
import assert from 'node:assert/strict';
import path from 'node:path';
import { loadImage, openSafetensors, readImage } from '../../../dist/index.js';

export const kind = 'load_img';

export async function run(caseSpec, ctx) {
  const p = caseSpec.parameters;
  const tol = caseSpec.tolerance.abs_u8;
  const source = path.join(ctx.root, p.source_png);
  const tensors = await openSafetensors(ctx.file);
  try {
    const src = tensors.tensor('source_u8').readSync();
    const decoded = await readImage(source);
    assert.deepEqual([decoded.height, decoded.width, 3], caseSpec.inputs.source_u8.shape, 'source shape');
    assert.ok(decoded.data.every((v, i) => v === src[i]), `readImage(${p.source_png}) differs from source_u8`);

    const expected = tensors.tensor('output_u8').readSync();
    const out = await loadImage(source, p.img_sz);
    assert.deepEqual([out.height, out.width, 3], caseSpec.outputs.output_u8.shape, 'output shape');
    let maxAbs = 0;
    let differing = 0;
    for (let i = 0; i < expected.length; i++) {
      const d = Math.abs(out.data[i] - expected[i]);
      if (d) differing++;
      maxAbs = Math.max(maxAbs, d);
    }
    ctx.t.diagnostic(`loadImage vs Pillow ${p.pillow_version}: max |diff| ${maxAbs} levels, ${differing} of ${expected.length} values differ`);
    assert.ok(maxAbs <= tol, `loadImage differs from the reference by up to ${maxAbs} levels (tolerance ${tol})`);
  } finally {
    tensors.close();
  }
}
