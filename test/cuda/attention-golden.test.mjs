// The fixtures' attention golden (the official AttnDevilProcessor2_0 on one UNet layer, every
// guidance / stratified / KV-replacement subcase) computed on the CUDA backend. Skips, before
// loading anything CUDA-specific, where there is no CUDA device.
//
// Tolerance: the golden is float32; on CUDA the layer runs in the storage type with F32
// accumulation, rounding at most 16 times along the way (hidden states, the four weight
// matrices and the bias, the q/k/v projections, the probabilities, the attention output, the
// output projection, plus error growth through the 32-wide projections), each by at most half an
// ulp: |got - want| <= 16 * u * max|want| with u = 2^-11 (f16) or 2^-8 (bf16). A wrong mode,
// reference frame or weight changes outputs by a large fraction of max|want|.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { cudaSkipReason } from '../helpers/backends.mjs';
import { goldenRoots, loadManifest } from '../helpers/fixtures.mjs';

const skip = cudaSkipReason();
if (skip) console.log(skip);

const unitRoundoff = { f16: 2 ** -11, bf16: 2 ** -8 };

const attentionRoots = goldenRoots().filter((r) => loadManifest(r).cases.some((c) => c.kind === 'attention'));
for (const [root, precision] of attentionRoots.flatMap((r) => ['f16', 'bf16'].map((p) => [r, p]))) {
  test(`attention golden of ${path.basename(root)} on CUDA (${precision})`, { skip: skip ?? false }, async () => {
    const { attentionGoldenSubcases } = await import('../helpers/attention-golden.mjs');
    const { Engine } = await import('../../dist/index.js');
    const engine = new Engine({ backend: 'cuda', precision });
    try {
      const subcases = await attentionGoldenSubcases(engine, root);
      assert.ok(subcases.length > 0, 'the golden helper returned no subcases');
      const failures = [];
      for (const { name, got, want, shape } of subcases) {
        assert.equal(got.length, want.length, `${name}: ${got.length} values for shape [${shape}]`);
        let scale = 0;
        for (const x of want) scale = Math.max(scale, Math.abs(x));
        const tol = 16 * unitRoundoff[precision] * scale;
        let err = 0;
        let worst = 0;
        for (let i = 0; i < want.length; i++) {
          const d = Math.abs(got[i] - want[i]);
          if (!(d <= err)) {
            err = Number.isNaN(d) ? Infinity : d;
            worst = i;
          }
        }
        console.log(`# ${name} [${shape}]: max err ${err.toExponential(2)} (tol ${tol.toExponential(2)})`);
        if (!(err <= tol)) failures.push(`${name}: max err ${err.toExponential(3)} > ${tol.toExponential(3)} at ${worst} (got ${got[worst]}, want ${want[worst]})`);
      }
      assert.deepEqual(failures, []);
    } finally {
      engine.dispose();
    }
  });
}
