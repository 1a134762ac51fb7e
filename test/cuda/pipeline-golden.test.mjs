// The reference pipeline cases on the CUDA backend (fp16 storage, fp32 accumulation), against
// the same goldens as the CPU. fp16 rounding (2^-11 relative per op) is amplified by classifier-
// free guidance (scale 7.5 on a random model whose latents reach |x| ~ 60) over 10 steps, so the
// bounds are those of a reduced-precision path (fixtures README: "reduced-precision paths need
// their own, much larger, tolerances"): latents |a - b| <= 0.05 + 0.02 |b|, decoded images
// <= 0.05, 8-bit outputs <= 8 levels. Every stage's max error is printed.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { cudaSkipReason } from '../helpers/backends.mjs';
import { closeness } from '../helpers/compare.mjs';
import { fixturesRoot, loadManifest } from '../helpers/fixtures.mjs';

const skip = cudaSkipReason();
if (skip) console.log(skip);

const manifest = loadManifest();
for (const c of manifest.cases.filter((x) => x.kind === 'pipeline')) {
  test(`${c.name} on CUDA`, { skip: skip ?? false }, async (t) => {
    const { runPipelineCase } = await import('../golden/kinds/pipeline.mjs');
    const ctx = { root: fixturesRoot, manifest, file: path.join(fixturesRoot, c.file) };
    const { rows } = await runPipelineCase(c, ctx, { backend: 'cuda', bounds: { latents: { atol: 0.05, rtol: 0.02 }, decoded: { atol: 0.05, rtol: 0 }, u8: 8 } });
    for (const r of rows) t.diagnostic(`${r.name}: max abs ${r.maxAbs.toExponential(2)}${r.violations ? ` (${r.violations} outside)` : ''}`);
    const bad = rows.filter((r) => r.violations > 0);
    assert.equal(bad.length, 0, `outside the fp16 bounds: ${bad.map((r) => `${r.name} ${r.maxAbs.toExponential(2)}`).join('; ')}`);
  });
}
