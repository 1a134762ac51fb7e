// The golden pipeline cases of every fixture root (SD1.5 and SD2.1 v-prediction) with the
// image-prompt cache in use: each case runs twice on one pipeline; the second run finds the cache
// entry, so the image prompt's rows are left out of every denoising step and the inversion is
// reused. It must still match the reference fixtures, and be bitwise the first run.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { reportRows, runPipelineCase } from './golden/kinds/pipeline.mjs';
import { sameBits } from './helpers/compare.mjs';
import { goldenRoots, loadManifest } from './helpers/fixtures.mjs';

for (const root of goldenRoots()) {
  const manifest = loadManifest(root);
  const ctx = { root, manifest };
  for (const c of manifest.cases.filter((x) => x.kind === 'pipeline')) {
    test(`${manifest.model} ${c.name}: with the image prompt's K/V from the cache (batch 2n)`, async (t) => {
      const file = path.join(root, c.file);
      const first = await runPipelineCase(c, { ...ctx, file, t });
      const second = await runPipelineCase(c, { ...ctx, file, t });
      const use = second.trace.kvCache;
      assert.equal(use.status, 'hit');
      assert.equal(use.reusedSteps, c.parameters.num_inference_steps, 'every step without the image prompt rows');
      reportRows(t, second.rows);
      first.trace.stepLatents.forEach((z, i) => assert.ok(sameBits(second.trace.stepLatents[i], z).equal, `step ${i} latents differ from the first run`));
      assert.ok(sameBits(second.trace.decoded, first.trace.decoded).equal, 'decoded images differ from the first run');
    });
  }
}
