// Golden kind 'metric_dino_ssim': DINO-G (pairwise self-similarity distances of the generated
// images) or DINO-C (distances to the ControlNet condition), end to end from the case's PNGs
// through QualityMetrics with the case's block.
import assert from 'node:assert/strict';
import path from 'node:path';
import { evalModels, expectClose, openGoldenFile, readPngMatching } from '../../helpers/eval-fixtures.mjs';

export const kind = 'metric_dino_ssim';

export async function run(c, ctx) {
  const p = c.parameters;
  const models = evalModels(ctx);
  const g = await openGoldenFile(ctx.file);
  const metrics = await models.metrics({ dino: models.dinoDir(), dinoLayer: p.layer });
  try {
    const images = [];
    for (let i = 0; i < p.num_generated; i++) {
      await readPngMatching(ctx, c.pngs[`generated${i}`], g.read(`generated_u8_${i}`), `generated${i}`);
      images.push(path.join(ctx.root, c.pngs[`generated${i}`]));
    }
    const tol = { atol: c.tolerance.abs, rtol: c.tolerance.rel };
    if (p.metric === 'DINO-G') {
      const s = await metrics.dinoScores({ images });
      assert.deepEqual(s.dinoPairs.flat(), Array.from(g.read('pair_indices').data), 'pair order');
      expectClose(ctx.t, s.dinoPairDistances, g.read('pair_distances').data, tol, `${c.name}.pair_distances`);
      expectClose(ctx.t, [s.dinoG], g.read('dino_g').data, tol, `${c.name}.dino_g`);
    } else {
      assert.equal(p.metric, 'DINO-C', `unknown metric ${p.metric}`);
      await readPngMatching(ctx, c.pngs.condition, g.read('condition_u8'), 'condition');
      const s = await metrics.dinoScores({ images, condition: path.join(ctx.root, c.pngs.condition) });
      expectClose(ctx.t, s.dinoConditionDistances, g.read('distances').data, tol, `${c.name}.distances`);
      expectClose(ctx.t, [s.dinoC], g.read('dino_c').data, tol, `${c.name}.dino_c`);
    }
  } finally {
    metrics.dispose();
    g.close();
  }
}
