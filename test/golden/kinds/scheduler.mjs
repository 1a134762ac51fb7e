// DDIM scheduler vs diffusers / the official inversion step, for every named configuration of the
// case (e.g. `official` epsilon and the model's own `model_config`, v_prediction): timesteps
// (exact), alphas_cumprod and final_alpha_cumprod (bit-exact: same float32 arithmetic as torch),
// every DDIM and inversion step of that configuration within the manifest tolerance, and the
// (alpha_from, alpha_to) pairs. Each step is also taken by the engine's guidance_step op (what the
// pipelines run), epsilon or v as the configuration says.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { DDIMScheduler, Engine, REFERENCE_DDIM_CONFIG, openSafetensors, parseSchedulerConfig } from '../../../dist/index.js';
import { assertClose, maxAbsDiff } from '../../helpers/compare.mjs';

export const kind = 'scheduler';

/** The engine's guidance_step for one move (no CFG: the model output is the only row). */
async function engineMove(engine, config, { sample, modelOutput, alphaFrom, alphaTo }) {
  const x = engine.tensor(sample, [1, sample.length]);
  const eps = engine.tensor(modelOutput, [1, modelOutput.length]);
  const out = engine.empty([1, sample.length]);
  await engine.op('guidance_step', { eps, x, out, alphaFrom, alphaTo, vPrediction: config.predictionType === 'v_prediction', uncondRow: [-1], condRow: [0] });
  const got = await out.readFloat32();
  for (const t of [x, eps, out]) t.dispose();
  return got;
}

async function checkConfig(name, golden, caseSpec, read, engine, t) {
  const atol = caseSpec.tolerance.abs;
  const config = parseSchedulerConfig(golden.configs[name], `scheduler.json configs.${name}`);
  if (name === 'official') assert.deepEqual(config, REFERENCE_DDIM_CONFIG, 'the official configuration is REFERENCE_DDIM_CONFIG');
  const scheduler = new DDIMScheduler(config);
  for (const n of caseSpec.parameters.num_inference_steps) {
    assert.deepEqual([...scheduler.timesteps(n)], golden.timesteps[`${name}_${n}`], `${name}: timesteps for ${n} steps`);
  }
  const ac = Float32Array.from(golden[`alphas_cumprod_${name}`]);
  const acDiff = maxAbsDiff(scheduler.alphasCumprod, ac);
  assert.equal(acDiff, 0, `${name}: alphas_cumprod should be bit-exact, max diff ${acDiff}`);
  assert.equal(scheduler.finalAlphaCumprod, golden[`final_alpha_cumprod_${name}`], `${name}: final_alpha_cumprod`);

  let worst = 0;
  let worstEngine = 0;
  // One move checked in TypeScript (`ours`) and with the engine's op, against the golden `output`.
  const checkMove = (key, output, ours, step) => {
    const [sample, modelOutput] = [read(`${key}_sample`), read(`${key}_model_output`)];
    const want = read(`${key}_${output}`);
    worst = Math.max(worst, assertClose(ours(modelOutput, sample), want, { atol }, `${key} ${output}`).maxAbs);
    return engineMove(engine, config, { sample, modelOutput, alphaFrom: step.alphaFrom, alphaTo: step.alphaTo }).then((native) => {
      worstEngine = Math.max(worstEngine, assertClose(native, want, { atol }, `${key} ${output} (engine guidance_step)`).maxAbs);
    });
  };
  const ddim = golden.ddim_steps.filter((s) => s.config === name);
  const inversion = golden.inversion_steps.filter((s) => s.config === name);
  assert.ok(ddim.length > 0 && inversion.length > 0, `${name}: the golden file has DDIM and inversion steps`);
  for (const s of ddim) {
    const step = scheduler.denoisingSteps(s.num_inference_steps).find((d) => d.timestep === s.timestep);
    assert.ok(step, `${s.key}: timestep ${s.timestep} is not a denoising timestep for ${s.num_inference_steps} steps`);
    assert.equal(step.prevTimestep, s.prev_timestep, `${s.key}: prev_timestep`);
    assert.equal(step.alphaFrom, s.alpha_prod_t, `${s.key}: alpha_prod_t`);
    assert.equal(step.alphaTo, s.alpha_prod_t_prev, `${s.key}: alpha_prod_t_prev`);
    assert.equal(s.eta ?? 0, 0, `${s.key}: only eta 0 is implemented`);
    const ddimStep = (m, x) => scheduler.ddimStep(m, s.timestep, x, s.num_inference_steps);
    await checkMove(s.key, 'prev_sample', (m, x) => ddimStep(m, x).sample, step);
    const x0 = ddimStep(read(`${s.key}_model_output`), read(`${s.key}_sample`)).predOriginalSample;
    worst = Math.max(worst, assertClose(x0, read(`${s.key}_pred_original_sample`), { atol }, `${s.key} pred_original_sample`).maxAbs);
  }
  for (const s of inversion) {
    const step = scheduler.inversionSteps(s.num_inference_steps).find((d) => d.timestep === s.timestep_arg);
    assert.ok(step, `${s.key}: timestep ${s.timestep_arg} is not an inversion timestep for ${s.num_inference_steps} steps`);
    assert.equal(step.fromTimestep, s.from_timestep, `${s.key}: from_timestep`);
    assert.equal(step.timestep, s.to_timestep, `${s.key}: to_timestep`);
    assert.equal(step.alphaFrom, s.alpha_from, `${s.key}: alpha_from`);
    assert.equal(step.alphaTo, s.alpha_to, `${s.key}: alpha_to`);
    await checkMove(s.key, 'next_sample', (m, x) => scheduler.inversionStep(m, s.timestep_arg, x, s.num_inference_steps), step);
  }
  t.diagnostic(`${name} (${config.predictionType}): ${ddim.length} DDIM + ${inversion.length} inversion steps, max |diff| ${worst.toExponential(2)} (TS), ${worstEngine.toExponential(2)} (engine); tolerance ${atol}`);
}

export async function run(caseSpec, ctx) {
  const golden = JSON.parse(readFileSync(ctx.file, 'utf8'));
  const names = caseSpec.parameters.configs ?? Object.keys(golden.configs);
  assert.deepEqual([...names].sort(), Object.keys(golden.configs).sort(), 'the case names every configuration of scheduler.json');
  const tensors = await openSafetensors(path.join(ctx.root, caseSpec.tensors_file));
  const read = (name) => tensors.tensor(name).readSync();
  const engine = new Engine({ backend: 'cpu' });
  try {
    for (const name of names) await checkConfig(name, golden, caseSpec, read, engine, ctx.t);
  } finally {
    engine.dispose();
    tensors.close();
  }
}
