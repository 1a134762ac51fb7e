// The reference pipeline cases on the CUDA backend (fp16 storage, fp32 accumulation), against
// the same goldens as the CPU. One fp16 UNet pass differs from the CPU by ~2e-3 relative (the
// full-size agreement test); classifier-free guidance (7.5 on a random model whose latents reach
// |x| ~ 60) amplifies that every step and the 10 steps compound it, so the bounds are those of a
// reduced-precision path (fixtures README: "reduced-precision paths need their own, much larger,
// tolerances"). Measured on an H100 (2026-11-26): inversion latents <= 0.049, step latents
// <= 0.35, decoded images <= 0.032, 8-bit outputs <= 4 levels. Bounds, ~1.5-2x those: latents
// |a - b| <= 0.6 + 0.02 |b|, decoded <= 0.05, 8-bit <= 8 levels. A wrong attention mode, layout
// or reset moves the latents by O(1)-O(10). Every stage's max error is printed.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { cudaSkipReason } from '../helpers/backends.mjs';
import { closeness } from '../helpers/compare.mjs';
import { goldenRoots, loadManifest } from '../helpers/fixtures.mjs';

const skip = cudaSkipReason();
if (skip) console.log(skip);

for (const root of goldenRoots()) {
  const manifest = loadManifest(root);
  for (const c of manifest.cases.filter((x) => x.kind === 'pipeline')) {
    test(`${manifest.model} ${c.name} on CUDA`, { skip: skip ?? false }, async (t) => {
      const { runPipelineCase } = await import('../golden/kinds/pipeline.mjs');
      const ctx = { root, manifest, file: path.join(root, c.file) };
      const { rows } = await runPipelineCase(c, ctx, { backend: 'cuda', bounds: { latents: { atol: 0.6, rtol: 0.02 }, decoded: { atol: 0.05, rtol: 0 }, u8: 8 } });
      for (const r of rows) t.diagnostic(`${r.name}: max abs ${r.maxAbs.toExponential(2)}${r.violations ? ` (${r.violations} outside)` : ''}`);
      const bad = rows.filter((r) => r.violations > 0);
      assert.equal(bad.length, 0, `outside the fp16 bounds: ${bad.map((r) => `${r.name} ${r.maxAbs.toExponential(2)}`).join('; ')}`);
    });
  }
}
