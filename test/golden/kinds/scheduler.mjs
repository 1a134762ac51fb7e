// DDIM scheduler vs diffusers / the official inversion step: timesteps (exact), alphas_cumprod and
// final_alpha_cumprod (bit-exact: same float32 arithmetic as torch), every ddim_official_* and
// inv_official_* step within the manifest tolerance, and the (alpha_from, alpha_to) pairs.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { DDIMScheduler, REFERENCE_DDIM_CONFIG, openSafetensors, parseSchedulerConfig } from '../../../dist/index.js';
import { assertClose, maxAbsDiff } from '../../helpers/compare.mjs';

export const kind = 'scheduler';

export async function run(caseSpec, ctx) {
  const golden = JSON.parse(readFileSync(ctx.file, 'utf8'));
  const atol = caseSpec.tolerance.abs;
  assert.deepEqual(Object.keys(golden.configs), ['official'], 'only the official config is known to this handler');
  const config = parseSchedulerConfig(golden.configs.official, 'scheduler.json configs.official');
  assert.deepEqual(config, REFERENCE_DDIM_CONFIG);
  const scheduler = new DDIMScheduler(config);

  for (const n of caseSpec.parameters.num_inference_steps) {
    assert.deepEqual([...scheduler.timesteps(n)], golden.timesteps[`official_${n}`], `timesteps for ${n} steps`);
  }

  const ac = Float32Array.from(golden.alphas_cumprod_official);
  const acDiff = maxAbsDiff(scheduler.alphasCumprod, ac);
  ctx.t.diagnostic(`alphas_cumprod max |diff| vs diffusers float32: ${acDiff}`);
  assert.equal(acDiff, 0, `alphas_cumprod should be bit-exact, max diff ${acDiff}`);
  assert.equal(scheduler.finalAlphaCumprod, golden.final_alpha_cumprod_official);

  const tensors = await openSafetensors(path.join(ctx.root, caseSpec.tensors_file));
  const read = (name) => tensors.tensor(name).readSync();
  let worst = 0;
  try {
    for (const s of golden.ddim_steps) {
      const step = scheduler.denoisingSteps(s.num_inference_steps).find((d) => d.timestep === s.timestep);
      assert.ok(step, `${s.key}: timestep ${s.timestep} is not a denoising timestep for ${s.num_inference_steps} steps`);
      assert.equal(step.prevTimestep, s.prev_timestep, `${s.key}: prev_timestep`);
      assert.equal(step.alphaFrom, s.alpha_prod_t, `${s.key}: alpha_prod_t`);
      assert.equal(step.alphaTo, s.alpha_prod_t_prev, `${s.key}: alpha_prod_t_prev`);
      const out = scheduler.ddimStep(read(`${s.key}_model_output`), s.timestep, read(`${s.key}_sample`), s.num_inference_steps);
      const a = assertClose(out.sample, read(`${s.key}_prev_sample`), { atol }, `${s.key} prev_sample`);
      const b = assertClose(out.predOriginalSample, read(`${s.key}_pred_original_sample`), { atol }, `${s.key} pred_original_sample`);
      worst = Math.max(worst, a.maxAbs, b.maxAbs);
    }
    for (const s of golden.inversion_steps) {
      const step = scheduler.inversionSteps(s.num_inference_steps).find((d) => d.timestep === s.timestep_arg);
      assert.ok(step, `${s.key}: timestep ${s.timestep_arg} is not an inversion timestep for ${s.num_inference_steps} steps`);
      assert.equal(step.fromTimestep, s.from_timestep, `${s.key}: from_timestep`);
      assert.equal(step.timestep, s.to_timestep, `${s.key}: to_timestep`);
      assert.equal(step.alphaFrom, s.alpha_from, `${s.key}: alpha_from`);
      assert.equal(step.alphaTo, s.alpha_to, `${s.key}: alpha_to`);
      const out = scheduler.inversionStep(read(`${s.key}_model_output`), s.timestep_arg, read(`${s.key}_sample`), s.num_inference_steps);
      worst = Math.max(worst, assertClose(out, read(`${s.key}_next_sample`), { atol }, `${s.key} next_sample`).maxAbs);
    }
  } finally {
    tensors.close();
  }
  ctx.t.diagnostic(`DDIM / inversion steps: max |diff| ${worst} (tolerance ${atol})`);
}
