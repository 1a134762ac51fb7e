// Hostile corpus, parameters: unknown option keys (with the closest known key suggested), null,
// out-of-range and contradictory values, sizes too small for the UNet or too costly for the
// backend, all refused before any work, through the API and the CLI (exit 1, one message, before
// the model loads, nothing written). Every test has a time limit.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { CALL_OPTION_KEYS, IndetailPipeline, LOAD_OPTION_KEYS, validateCallOptions, validateLoadOptions } from '../dist/index.js';
import { assertUserError, inputImage, quick, runCli, scratch, tinyModel } from './helpers/hostile.mjs';

const LIMIT = { timeout: 30_000 };
const s = scratch();
const base = { image: inputImage, prompt: 'a cat', steps: 2, size: 64, seed: 1 };
let pipe;
before(async () => {
  pipe = await IndetailPipeline.load({ model: tinyModel, backend: 'cpu' });
});
after(() => {
  pipe?.dispose();
  s.remove();
});

const invalid = (re) => (err) => err.code === 'ERR_INDETAIL_INVALID_ARGUMENT' && re.test(err.message);

test('unknown call keys are errors naming the key and the closest known one', LIMIT, async () => {
  const cases = [
    [{ guidance_scale: 50 }, /Unknown option 'guidance_scale' for a variation call; did you mean 'guidanceScale'\?/],
    [{ guidanceScal: 5 }, /'guidanceScal'.*did you mean 'guidanceScale'/],
    [{ negative_prompt: 'x' }, /did you mean 'negativePrompt'/],
    [{ Seed: 3 }, /did you mean 'seed'/],
    [{ wibble: 1 }, /Unknown option 'wibble' for a variation call; known options: 'image', 'prompt'/],
  ];
  for (const [extra, re] of cases) {
    await assert.rejects(pipe.variation({ ...base, ...extra }), invalid(re), String(re));
    assert.throws(() => validateCallOptions('variation', { ...base, ...extra }), invalid(re), String(re));
  }
  // The list behind the check is the one exported, and every key on it is accepted.
  assert.ok(CALL_OPTION_KEYS.includes('guidanceScale') && CALL_OPTION_KEYS.includes('allowLargeSize'));
  assert.ok(LOAD_OPTION_KEYS.includes('backend') && !LOAD_OPTION_KEYS.includes('guidanceScale'));
});

test('null, out-of-range and contradictory values are refused by name; defaults still fit short runs', LIMIT, async () => {
  const cases = [
    [{ seed: null }, /Expected a value for seed but received null/],
    [{ steps: null }, /for steps but received null/],
    [{ stratifiedSteps: 5 }, /Expected an integer from 0 to steps \(2\) for stratifiedSteps but received 5/],
    [{ includeReconstruction: 'yes' }, /Expected a boolean for includeReconstruction/],
    [{ initialNoise: Float32Array.from({ length: 256 }, (_, i) => (i === 7 ? Number.NaN : 0)) }, /initialNoise\[7\] is NaN/],
    [{ initialNoise: Float32Array.from({ length: 256 }, (_, i) => (i === 3 ? -Infinity : 0)) }, /initialNoise\[3\] is -Infinity/],
    [{ size: 8 }, /at least 64x64 for this model but received 8x8: its latent would be 1x1/],
    [{ size: 56 }, /at least 64x64/],
  ];
  for (const [extra, re] of cases) await assert.rejects(pipe.variation({ ...base, ...extra }), invalid(re), String(re));
  await assert.rejects(pipe.structure({ ...base, control: inputImage, controlGuidanceEndStep: 3 }), /for controlGuidanceEndStep but received 3/);
  // The default stratifiedSteps (10) covers every step of a 2-step run: no error.
  const r = await pipe.variation(base);
  assert.equal(r.parameters.stratifiedSteps, 10);
  assert.throws(() => validateCallOptions('sideways', base), invalid(/for task/));
});

test('sizes too costly for the backend are refused up front with the estimate and the override', LIMIT, async () => {
  const t = performance.now();
  await assert.rejects(
    pipe.variation({ ...base, size: 4096 }),
    invalid(/size 4096x4096 would cost about \d+ TFLOP per UNet pass, [\d.]+x the limit for the CPU .*allowLargeSize: true \(CLI: --allow-large-size\)/),
  );
  assert.ok(performance.now() - t < 2000, 'refused without running');
  // The override is accepted (checked here without running it).
  await IndetailPipeline.validateCall({ model: tinyModel, backend: 'cpu' }, 'variation', { ...base, size: 4096, allowLargeSize: true });
  await assert.rejects(IndetailPipeline.validateCall({ model: tinyModel, backend: 'cpu' }, 'variation', { ...base, size: 4096 }), invalid(/TFLOP per UNet pass/));
});

test('load options: unknown keys, wrong types (onWarning, onInfo, backend, kvCache) are IndetailErrors with a code', LIMIT, async () => {
  const cases = [
    [{ backnd: 'cpu' }, /Unknown option 'backnd' for IndetailPipeline.load; did you mean 'backend'\?/],
    [{ onWarning: 'loud' }, /Expected a function for onWarning but received "loud"/],
    [{ onInfo: 42 }, /Expected a function for onInfo but received 42/],
    [{ backend: 'gpu' }, /for backend but received "gpu"/],
    [{ kvCache: { maxByte: 1 } }, /Unknown option 'maxByte' for kvCache; did you mean 'maxBytes'\?/],
    [{ config: null }, /Expected a value for config but received null/],
    [{ precision: 'f8' }, /for precision/],
  ];
  for (const [extra, re] of cases) {
    await assert.rejects(IndetailPipeline.load({ model: tinyModel, backend: 'cpu', ...extra }), invalid(re), String(re));
    assert.throws(() => validateLoadOptions({ model: tinyModel, ...extra }), invalid(re), String(re));
  }
  await assert.rejects(IndetailPipeline.load({ backend: 'cpu' }), invalid(/for model but received nothing/));
  // A precision of the other backend is refused once the backend is known, before any weight is read.
  await assert.rejects(IndetailPipeline.validateCall({ model: tinyModel, backend: 'cpu', precision: 'f16' }, 'variation', base), invalid(/Expected 'f32' or 'bf16' \(or 'auto'\) for precision on the cpu backend but received "f16"/));
  await IndetailPipeline.validateCall({ model: tinyModel, backend: 'cpu', precision: 'bf16' }, 'variation', base);
});

test('CLI: a bad command line exits 1 with one message before any work, and writes nothing', LIMIT, async () => {
  const out = path.join(s.dir, 'out');
  const run = (...args) => runCli(['variation', '--model', tinyModel, '--image', inputImage, '--prompt', 'x', ...quick, '--out', out, ...args]);
  const cases = [
    [['--guidanc', '3', '--json'], /Unknown argument: --guidanc \(did you mean --guidance\?\)/],
    [['--guidance-mode', 'sideways'], /Invalid values:[\s\S]*guidance-mode/],
    [['--strat-steps', '5'], /Expected an integer from 0 to steps \(2\) for --strat-steps but received 5/],
    [['--size', '8'], /at least 64x64/],
    [['--size', '4096'], /would cost about .* --allow-large-size/],
    [['--seed', 'abc'], /for --seed/],
    [['--backend', 'cpu', '--precision', 'f16'], /for precision on the cpu backend but received "f16"/],
    [['--precision', 'fp8'], /Invalid values:[\s\S]*precision/],
  ];
  for (const [args, re] of cases) {
    const r = await run(...args);
    assertUserError(assert, r, re, args.join(' '));
    assert.equal(r.stdout, '', `${args.join(' ')}: nothing on stdout (no success object)`);
    assert.doesNotMatch(r.stderr, /using the CPU backend/, `${args.join(' ')}: refused before the model load`);
  }
  const missing = await runCli(['variation', '--model', tinyModel, '--image', inputImage, ...quick, '--out', out]);
  assertUserError(assert, missing, /Missing required argument: prompt/, 'missing --prompt');
  assert.ok(!existsSync(out), 'nothing written, no folder left behind');
});

test('CLI: an unusable --out is refused before the model loads', LIMIT, async () => {
  const file = path.join(s.dir, 'a-file');
  writeFileSync(file, 'x');
  const cases = [
    [file, /cannot use --out .*a-file: it exists and is a regular file, not a folder/],
    [path.join(file, 'sub'), /cannot use --out .*a part of the path is a file, not a folder/],
    ['/proc/indetail-out', /cannot use --out \/proc\/indetail-out: the folder cannot be created/],
    ['/proc', /cannot use --out \/proc: the folder is not writable/],
  ];
  for (const [out, re] of cases) {
    const r = await runCli(['variation', '--model', tinyModel, '--image', inputImage, '--prompt', 'x', ...quick, '--out', out]);
    assertUserError(assert, r, re, out);
    assert.doesNotMatch(r.stderr, /using the CPU backend/, `${out}: refused before the model load`);
  }
  assert.deepEqual(readdirSync(s.dir), ['a-file']);
});
