// The golden pipeline cases with the image-prompt cache in use: each case runs twice on one
// pipeline; the second run finds the cache entry, so the image prompt's rows are left out of
// every denoising step and the inversion is reused. It must still match the reference fixtures,
// and be bitwise the first run.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { runPipelineCase } from './golden/kinds/pipeline.mjs';
import { fixturesRoot, loadManifest } from './helpers/fixtures.mjs';

const manifest = loadManifest(fixturesRoot);
const ctx = { root: fixturesRoot, manifest };

function sameBits(a, b) {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

for (const c of manifest.cases.filter((x) => x.kind === 'pipeline')) {
  test(`${c.name}: with the image prompt's K/V from the cache (batch 2n)`, async (t) => {
    const file = path.join(fixturesRoot, c.file);
    const first = await runPipelineCase(c, { ...ctx, file, t });
    const second = await runPipelineCase(c, { ...ctx, file, t });
    const use = second.trace.kvCache;
    assert.equal(use.status, 'hit');
    assert.equal(use.reusedSteps, c.parameters.num_inference_steps, 'every step without the image prompt rows');
    for (const r of second.rows) t.diagnostic(`${r.name}: max abs ${r.maxAbs.toExponential(2)}`);
    const bad = second.rows.filter((r) => r.violations > 0);
    assert.equal(bad.length, 0, `outside tolerance: ${bad.map((r) => `${r.name} (max abs ${r.maxAbs.toExponential(2)})`).join('; ')}`);
    first.trace.stepLatents.forEach((z, i) => assert.ok(sameBits(second.trace.stepLatents[i], z), `step ${i} latents differ from the first run`));
    assert.ok(sameBits(second.trace.decoded, first.trace.decoded), 'decoded images differ from the first run');
  });
}
