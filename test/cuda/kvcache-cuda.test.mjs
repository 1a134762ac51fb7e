// The image-prompt cache on CUDA: the recording call and the cached calls (batch 2n instead of
// 2n + 1) give the bits of a pipeline without the cache. This needs batch-invariant kernels: the
// split-K of the GEMMs and the chunking of the GroupNorm statistics are planned per frame, never
// from the batch size (plan_split_k_per_frame in cuda/kernels/implicit_gemm.cu, plan_group_norm in
// cuda/kernels/group_norm.cu); test/cuda-emulator.test.mjs checks that property without a GPU.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { IndetailPipeline, openSafetensors } from '../../dist/index.js';
import { cudaSkipReason } from '../helpers/backends.mjs';
import { fixturePath } from '../helpers/fixtures.mjs';

const skip = cudaSkipReason();
if (skip) console.log(skip);

const model = fixturePath('tiny-sd15');
const controlnet = fixturePath('tiny-sd15-controlnet');
// Raw RGB from the fixtures (the GPU machine has no image decoder).
async function rgb(name) {
  const t = (await openSafetensors(fixturePath('golden', 'images.safetensors'))).tensor(name);
  const [height, width] = t.shape;
  return { data: Uint8Array.from(t.readSync()), width, height };
}

let plain;
let base;
let structureOptions;
before(async () => {
  base = { image: await rgb('input_image_u8'), prompt: 'a cat', steps: 3, size: 64, stratifiedSteps: 1 };
  structureOptions = { control: await rgb('control_image_u8'), controlGuidanceEndStep: 1 };
  if (!skip) plain = await IndetailPipeline.load({ model, controlnet, backend: 'cuda', kvCache: false });
});
after(() => plain?.dispose());

function differing(a, b) {
  let n = 0;
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    if (Object.is(a[i], b[i])) continue;
    n++;
    max = Math.max(max, Math.abs(a[i] - b[i]));
  }
  return { n, max };
}

for (const task of ['variation', 'cross', 'structure']) {
  for (const guidanceMode of ['conflict-free', 'conflicting']) {
    test(`CUDA ${task}, ${guidanceMode}: cached calls give the bits of the cache-less pipeline`, { skip: skip ?? false }, async (t) => {
      const pipe = await IndetailPipeline.load({ model, controlnet, backend: 'cuda' });
      try {
        const o = { ...base, guidanceMode, ...(task === 'structure' ? structureOptions : {}) };
        for (const [samples, seed, status] of [[2, 11, 'miss'], [3, 12, 'hit'], [1, 13, 'hit']]) {
          const want = {};
          const got = {};
          await plain[task]({ ...o, samples, seed, trace: want });
          const r = await pipe[task]({ ...o, samples, seed, trace: got });
          assert.equal(r.kvCache.status, status);
          const steps = want.stepLatents.map((z, i) => differing(got.stepLatents[i], z));
          const img = differing(got.decoded, want.decoded);
          t.diagnostic(`${samples} samples (${status}): differing values per step ${steps.map((s) => s.n).join('/')}, images ${img.n} (max abs ${Math.max(img.max, ...steps.map((s) => s.max))})`);
          assert.ok(steps.every((s) => s.n === 0) && img.n === 0, `${samples} samples: outputs differ from the cache-less pipeline`);
        }
      } finally {
        pipe.dispose();
      }
    });
  }
}
