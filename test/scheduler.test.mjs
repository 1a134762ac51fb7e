// DDIM scheduler: config validation, timestep spacings, step plans and the step formula. The
// reference values themselves are checked by the golden suite (test/golden/kinds/scheduler.mjs).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { DDIMScheduler, REFERENCE_DDIM_CONFIG, ddimMove, loadSchedulerConfig, parseSchedulerConfig } from '../dist/index.js';
import { fixturePath } from './helpers/fixtures.mjs';

const sd15 = {
  num_train_timesteps: 1000,
  beta_start: 0.00085,
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  clip_sample: false,
  set_alpha_to_one: false,
  steps_offset: 1,
};
const tmp = mkdtempSync(path.join(tmpdir(), 'indetail-sched-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function rejects(fn, code, pattern) {
  assert.throws(fn, (err) => err.code === code && pattern.test(err.message), `expected ${code} matching ${pattern}`);
}

test('the fixture scheduler_config.json is the reference DDIM configuration', async () => {
  const config = await loadSchedulerConfig(fixturePath('tiny-sd15', 'scheduler', 'scheduler_config.json'));
  assert.deepEqual(config, REFERENCE_DDIM_CONFIG);
  assert.deepEqual(parseSchedulerConfig({ ...sd15, _class_name: 'PNDMScheduler', skip_prk_steps: true }), REFERENCE_DDIM_CONFIG);
});

test('unsupported or invalid config values are refused by name', () => {
  rejects(() => parseSchedulerConfig({ ...sd15, beta_schedule: 'sigmoid' }), 'ERR_INDETAIL_UNSUPPORTED', /beta_schedule "sigmoid" is not supported/);
  rejects(() => parseSchedulerConfig({ ...sd15, prediction_type: 'sample' }), 'ERR_INDETAIL_UNSUPPORTED', /prediction_type "sample"/);
  rejects(() => parseSchedulerConfig({ ...sd15, thresholding: true }), 'ERR_INDETAIL_UNSUPPORTED', /thresholding true/);
  rejects(() => parseSchedulerConfig({ ...sd15, clip_sample: true }), 'ERR_INDETAIL_UNSUPPORTED', /clip_sample true/);
  // diffusers' DDIM default for a missing clip_sample is true
  const { clip_sample, ...noClip } = sd15;
  rejects(() => parseSchedulerConfig(noClip), 'ERR_INDETAIL_UNSUPPORTED', /clip_sample/);
  rejects(() => parseSchedulerConfig({ ...sd15, timestep_spacing: 'karras' }), 'ERR_INDETAIL_UNSUPPORTED', /timestep_spacing "karras"/);
  rejects(() => parseSchedulerConfig({ ...sd15, rescale_betas_zero_snr: true }), 'ERR_INDETAIL_UNSUPPORTED', /rescale_betas_zero_snr.*v_prediction/);
  rejects(() => parseSchedulerConfig({ ...sd15, num_train_timesteps: 0 }), 'ERR_INDETAIL_INVALID_ARGUMENT', /num_train_timesteps/);
  rejects(() => parseSchedulerConfig({ ...sd15, beta_end: 2 }), 'ERR_INDETAIL_INVALID_ARGUMENT', /beta_end/);
  rejects(() => parseSchedulerConfig({ ...sd15, steps_offset: -1 }), 'ERR_INDETAIL_INVALID_ARGUMENT', /steps_offset/);
  rejects(() => parseSchedulerConfig({ ...sd15, set_alpha_to_one: 'no' }), 'ERR_INDETAIL_INVALID_ARGUMENT', /set_alpha_to_one/);
  rejects(() => parseSchedulerConfig({ ...sd15, trained_betas: [0.1, 0.2] }), 'ERR_INDETAIL_INVALID_ARGUMENT', /trained_betas/);
  rejects(() => parseSchedulerConfig([1, 2]), 'ERR_INDETAIL_INVALID_ARGUMENT', /JSON object/);
});

test('config files: missing file is an IO error, bad JSON a bad file, both naming the file', async () => {
  const missing = path.join(tmp, 'nope.json');
  await assert.rejects(loadSchedulerConfig(missing), (e) => e.code === 'ERR_INDETAIL_IO' && e.message.includes(missing));
  const broken = path.join(tmp, 'broken.json');
  writeFileSync(broken, '{"beta_start": ');
  await assert.rejects(loadSchedulerConfig(broken), (e) => e.code === 'ERR_INDETAIL_BAD_FILE' && e.message.includes(broken));
});

test('timestep spacings: leading with offset, trailing, linspace', () => {
  const make = (over) => new DDIMScheduler({ ...REFERENCE_DDIM_CONFIG, ...over });
  assert.deepEqual([...make({}).timesteps(10)], [901, 801, 701, 601, 501, 401, 301, 201, 101, 1]);
  assert.deepEqual([...make({ stepsOffset: 0 }).timesteps(4)], [750, 500, 250, 0]);
  assert.deepEqual([...make({ timestepSpacing: 'trailing' }).timesteps(10)], [999, 899, 799, 699, 599, 499, 399, 299, 199, 99]);
  // round(arange(1000, 0, -333.33)) - 1 = [1000, 667, 333] - 1
  assert.deepEqual([...make({ timestepSpacing: 'trailing' }).timesteps(3)], [999, 666, 332]);
  assert.deepEqual([...make({ timestepSpacing: 'linspace' }).timesteps(10)], [999, 888, 777, 666, 555, 444, 333, 222, 111, 0]);
  assert.deepEqual([...make({ timestepSpacing: 'linspace' }).timesteps(1)], [0]);
  assert.throws(() => make({}).timesteps(0), /between 1 and 1000/);
  assert.throws(() => make({}).timesteps(1001), /between 1 and 1000/);
  assert.throws(() => make({}).timesteps(2.5), /between 1 and 1000/);
  assert.throws(() => make({ stepsOffset: 600 }).timesteps(2), /timestep 1100/);
  // numpy's arange(1000, 0, -1000/61) has 62 elements, the last rounding to timestep -1
  assert.throws(() => make({ timestepSpacing: 'trailing' }).timesteps(61), /62 timesteps including -1 for 61 steps/);
});

test('denoising and inversion plans give the (alpha_from, alpha_to) pairs of each step', () => {
  const s = new DDIMScheduler();
  const ac = s.alphasCumprod;
  const plan = s.denoisingSteps(10);
  assert.equal(plan.length, 10);
  assert.deepEqual(plan[0], { index: 0, timestep: 901, prevTimestep: 801, alphaFrom: ac[901], alphaTo: ac[801] });
  assert.deepEqual(plan[9], { index: 9, timestep: 1, prevTimestep: -99, alphaFrom: ac[1], alphaTo: s.finalAlphaCumprod });
  assert.equal(s.finalAlphaCumprod, ac[0]);
  const inv = s.inversionSteps(10);
  assert.deepEqual(inv.map((x) => x.timestep), [1, 101, 201, 301, 401, 501, 601, 701, 801, 901]);
  assert.deepEqual(inv[0], { index: 0, timestep: 1, fromTimestep: -99, alphaFrom: s.finalAlphaCumprod, alphaTo: ac[1] });
  assert.deepEqual(inv[9], { index: 9, timestep: 901, fromTimestep: 801, alphaFrom: ac[801], alphaTo: ac[901] });
  // inversion step i undoes denoising step n-1-i: same pair of levels, reversed
  for (let i = 0; i < 10; i++) {
    assert.equal(inv[i].alphaFrom, plan[9 - i].alphaTo);
    assert.equal(inv[i].alphaTo, plan[9 - i].alphaFrom);
  }
  const one = new DDIMScheduler({ ...REFERENCE_DDIM_CONFIG, setAlphaToOne: true });
  assert.equal(one.finalAlphaCumprod, 1);
});

test('noise schedules: alphas_cumprod decrease from ~1 for every beta schedule', () => {
  for (const betaSchedule of ['linear', 'scaled_linear', 'squaredcos_cap_v2']) {
    const ac = new DDIMScheduler({ ...REFERENCE_DDIM_CONFIG, betaSchedule, betaStart: 0.0001, betaEnd: 0.02 }).alphasCumprod;
    assert.equal(ac.length, 1000);
    assert.ok(ac[0] > 0.99 && ac[0] < 1, `${betaSchedule}: ac[0] = ${ac[0]}`);
    for (let i = 1; i < 1000; i++) assert.ok(ac[i] < ac[i - 1], `${betaSchedule}: not decreasing at ${i}`);
    assert.ok(ac[999] < 0.01, `${betaSchedule}: ac[999] = ${ac[999]}`);
  }
  // linear: beta_t = linspace(1e-4, 0.02) so ac[0] = 1 - 1e-4 (float32)
  const lin = new DDIMScheduler({ ...REFERENCE_DDIM_CONFIG, betaSchedule: 'linear', betaStart: 0.0001, betaEnd: 0.02 });
  assert.equal(lin.alphasCumprod[0], Math.fround(1 - Math.fround(0.0001)));
  // zero terminal SNR: the last level is pure noise, the first is unchanged up to float32 rounding
  const base = { ...REFERENCE_DDIM_CONFIG, predictionType: 'v_prediction', timestepSpacing: 'trailing' };
  const z = new DDIMScheduler({ ...base, rescaleBetasZeroSnr: true }).alphasCumprod;
  const plain = new DDIMScheduler(base).alphasCumprod;
  assert.equal(z[999], 0);
  assert.ok(Math.abs(z[0] - plain[0]) < 1e-6);
  // trained betas are used as given
  const tb = new DDIMScheduler({ ...REFERENCE_DDIM_CONFIG, numTrainTimesteps: 3, trainedBetas: [0.5, 0.5, 0.5] });
  assert.deepEqual([...tb.alphasCumprod], [0.5, 0.25, 0.125]);
});

test('ddimMove: epsilon and v-prediction agree, inversion inverts denoising, bad arguments refused', () => {
  const n = 64;
  const x0 = Float32Array.from({ length: n }, (_, i) => Math.sin(i));
  const eps = Float32Array.from({ length: n }, (_, i) => Math.cos(3 * i));
  const a = 0.3;
  const b = 0.7;
  const xa = x0.map((v, i) => Math.sqrt(a) * v + Math.sqrt(1 - a) * eps[i]);
  const v = x0.map((x, i) => Math.sqrt(a) * eps[i] - Math.sqrt(1 - a) * x);
  const e = ddimMove(xa, eps, a, b, 'epsilon');
  const w = ddimMove(xa, v, a, b, 'v_prediction');
  for (let i = 0; i < n; i++) {
    const target = Math.sqrt(b) * x0[i] + Math.sqrt(1 - b) * eps[i];
    assert.ok(Math.abs(e.sample[i] - target) < 1e-5, `epsilon at ${i}`);
    assert.ok(Math.abs(w.sample[i] - target) < 1e-5, `v at ${i}`);
    assert.ok(Math.abs(e.predOriginalSample[i] - x0[i]) < 1e-5);
  }
  // with the true noise, going a -> b -> a returns to the start
  const back = ddimMove(e.sample, eps, b, a);
  for (let i = 0; i < n; i++) assert.ok(Math.abs(back.sample[i] - xa[i]) < 1e-5);
  assert.throws(() => ddimMove(xa, eps.subarray(1), a, b), /equal length/);
  assert.throws(() => ddimMove(xa, eps, 1.5, b), /alphaFrom/);
  assert.throws(() => ddimMove(xa, eps, a, b, 'sample'), /predictionType/);
  const s = new DDIMScheduler();
  assert.throws(() => s.ddimStep(eps, 1000, xa, 10), /timestep/);
  assert.throws(() => s.inversionStep(eps, 1, xa, 0), /steps/);
});

test('the pipeline fixture: timesteps, the inversion chain and CFG + DDIM steps follow the plans', async () => {
  const { openSafetensors } = await import('../dist/index.js');
  const f = await openSafetensors(fixturePath('golden', 'pipe_imgvar_cond.safetensors'));
  try {
    const read = (name) => f.tensor(name).readSync();
    const s = new DDIMScheduler();
    const steps = 10;
    const lat = 4 * 16 * 16;
    assert.deepEqual([...read('timesteps')], [...s.timesteps(steps)]);
    const inv = s.inversionSteps(steps);
    assert.deepEqual([...read('inversion_timesteps')], inv.map((x) => x.timestep));

    // inversion: zts[n] = z0, zts[n-1-i] = next_step(eps_i, t_i, zts[n-i])
    const zts = read('inversion_latents');
    const preds = read('inversion_noise_preds');
    let z = read('z0');
    let worst = 0;
    for (const st of inv) {
      z = ddimMove(z, preds.subarray(st.index * lat, (st.index + 1) * lat), st.alphaFrom, st.alphaTo).sample;
      const ref = zts.subarray((steps - 1 - st.index) * lat, (steps - st.index) * lat);
      for (let i = 0; i < lat; i++) worst = Math.max(worst, Math.abs(z[i] - ref[i]));
    }
    assert.ok(worst <= 2.5e-5, `inversion chain differs by ${worst}`);

    // denoising: eps = u + 7.5 (c - u) per frame (rows [uncond F | cond F]), then the DDIM step
    const F = 3;
    const noise = read('step_noise_preds');
    const before = read('step_latents_before_callback');
    const after = read('step_latents');
    let x = read('initial_latents');
    worst = 0;
    for (const st of s.denoisingSteps(steps)) {
      const base = st.index * 2 * F * lat;
      for (let fr = 0; fr < F; fr++) {
        const u = noise.subarray(base + fr * lat, base + (fr + 1) * lat);
        const c = noise.subarray(base + (F + fr) * lat, base + (F + fr + 1) * lat);
        const eps = u.map((uv, i) => Math.fround(uv + Math.fround(7.5 * Math.fround(c[i] - uv))));
        const out = ddimMove(x.subarray(fr * lat, (fr + 1) * lat), eps, st.alphaFrom, st.alphaTo).sample;
        const ref = before.subarray((st.index * F + fr) * lat, (st.index * F + fr + 1) * lat);
        for (let i = 0; i < lat; i++) worst = Math.max(worst, Math.abs(out[i] - ref[i]) / (1 + Math.abs(ref[i])));
      }
      x = after.slice(st.index * F * lat, (st.index + 1) * F * lat);
    }
    assert.ok(worst <= 1e-5, `DDIM steps differ by ${worst} (relative)`);
  } finally {
    f.close();
  }
});
