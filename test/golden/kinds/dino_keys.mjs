// Golden kind 'dino_keys': the DINO preprocessing of each picture (ToTensor, torchvision
// Resize(224, max_size=480) without antialiasing, ImageNet Normalize), the keys of every block
// the golden file stores (CLS token first, heads concatenated; position embeddings interpolated
// for the non-square picture) and the cosine self-similarity of the blocks it stores.
import assert from 'node:assert/strict';
import { dinoPreprocess } from '../../../dist/index.js';
import { chwToHwc, evalModels, expectClose, openGoldenFile, readPngMatching } from '../../helpers/eval-fixtures.mjs';

export const kind = 'dino_keys';

export async function run(c, ctx) {
  const { engine, dino } = evalModels(ctx);
  const model = await dino();
  const g = await openGoldenFile(ctx.file);
  const names = g.names();
  try {
    for (const [name, spec] of Object.entries(c.parameters.images)) {
      const img = await readPngMatching(ctx, spec.png, g.read(`${name}_u8`), name);
      assert.deepEqual([img.height, img.width], spec.source_hw, `${name}: source size`);
      const input = dinoPreprocess(img);
      assert.deepEqual([input.height, input.width], spec.dino_input_hw, `${name}: DINO input size`);
      const golden = g.read(`${name}_dino_input`);
      expectClose(ctx.t, input.pixels, chwToHwc(golden), { atol: c.tolerance.dino_input_abs }, `${name}.dino_input`);

      // The model on the stored input (so the key errors are the model's alone).
      const pixels = engine.tensor(chwToHwc(golden), [1, input.height, input.width, 3]);
      try {
        const layerOf = (re) => names.map((n) => re.exec(n)).filter(Boolean).map((m) => Number(m[1])).sort((a, b) => a - b);
        const layers = layerOf(new RegExp(`^${name}_keys_layer(\\d+)$`));
        assert.ok(layers.length > 0, `${name}: the golden file stores no keys`);
        const keys = await model.keys(pixels, layers);
        for (const [i, layer] of layers.entries()) {
          assert.deepEqual(keys[i].shape, [1, spec.tokens, model.config.hidden_size], `${name}: keys shape of block ${layer}`);
          expectClose(ctx.t, await keys[i].readFloat32(), g.read(`${name}_keys_layer${layer}`).data, { atol: c.tolerance.keys_abs }, `${name}.keys_layer${layer}`);
          keys[i].dispose();
        }
        for (const layer of layerOf(new RegExp(`^${name}_self_sim_layer(\\d+)$`))) {
          assert.equal(layer, c.parameters.self_sim_layer, `${name}: self-similarity block`);
          const sim = await model.selfSimilarity(pixels, layer);
          assert.deepEqual(sim.shape, [1, spec.tokens, spec.tokens], `${name}: self-similarity shape`);
          expectClose(ctx.t, await sim.readFloat32(), g.read(`${name}_self_sim_layer${layer}`).data, { atol: c.tolerance.self_sim_abs }, `${name}.self_sim_layer${layer}`);
          sim.dispose();
        }
      } finally {
        pixels.dispose();
      }
    }
  } finally {
    g.close();
  }
}
