// The CLI on the tiny SD 2.1 (v-prediction) fixture model, as a diffusers folder and as its
// single file (with the folder's configs): the three tasks run, the PNG metadata records the
// family, prediction type and quality suffix, `indetail info` says which prediction type and
// why, and a prediction type the model contradicts is a user error naming both sides.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { readPngText } from '../dist/index.js';
import { run } from './helpers/cli.mjs';
import { sd21Root } from './helpers/fixtures.mjs';

const dir = mkdtempSync(path.join(tmpdir(), 'indetail-cli-sd2-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const folder = path.join(sd21Root, 'tiny-sd21v');
const single = path.join(sd21Root, 'tiny-sd21v.safetensors');
const models = { folder: ['--model', folder], 'single file': ['--model', single, '--config', folder] };
const common = ['--image', path.join(sd21Root, 'golden', 'input_image.png'), '--steps', '2', '--size', '64', '--seed', '5', '--json'];
const control = ['--control', path.join(sd21Root, 'golden', 'control_image.png'), '--controlnet', path.join(sd21Root, 'tiny-sd21v-controlnet')];

async function parameters(r) {
  assert.equal(r.status, 0, r.stderr);
  const summary = JSON.parse(r.stdout);
  return JSON.parse((await readPngText(summary.files[0])).parameters);
}

for (const [label, model] of Object.entries(models)) {
  test(`indetail variation, cross and structure run on the tiny SD 2.1 ${label}`, async () => {
    const out = path.join(dir, label.replace(' ', '-'));
    const v = await parameters(await run('variation', ...model, ...common, '--prompt', 'a cat', '--out', out));
    assert.equal(v.family, 'sd2');
    assert.equal(v.predictionType, 'v_prediction');
    assert.equal(v.qualitySuffix, ', best quality, extremely detailed.', 'the reference\'s suffix by default');
    const c = await parameters(await run('cross', ...model, ...common, '--prompt', 'an owl', '--out', out, '--no-quality-suffix'));
    assert.equal(c.qualitySuffix, false, '--no-quality-suffix is recorded');
    const s = await parameters(await run('structure', ...model, ...common, ...control, '--prompt', 'a penguin', '--out', out, '--quality-suffix', ', oil on canvas'));
    assert.equal(s.qualitySuffix, ', oil on canvas');
    assert.equal(s.task, 'structure');
  });
}

test('indetail info names the family and the prediction type with their reasons', async () => {
  const r = await run('info', single, '--config', folder, '--json');
  assert.equal(r.status, 0, r.stderr);
  const d = JSON.parse(r.stdout);
  assert.match(d.family, /^sd2 \(Stable Diffusion 2\.x\): its text encoder is stored under 'cond_stage_model\.model\.\*'/);
  assert.match(d.prediction_type, /^v_prediction: .*scheduler_config\.json \(prediction_type\)/);
  assert.equal(d.default_size, 96);
  assert.deepEqual([d.text_encoder.layers_in_file, d.text_encoder.num_hidden_layers, d.text_encoder.hidden_act], [3, 2, 'gelu'], 'the file\'s last OpenCLIP layer is unused');
});

test('a prediction type the model contradicts exits 1 naming both sides', async () => {
  const r = await run('variation', '--model', folder, ...common, '--prompt', 'a cat', '--out', path.join(dir, 'x'), '--prediction-type', 'epsilon');
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /contradictory prediction types: the predictionType option says epsilon, but .*scheduler_config\.json \(prediction_type\) says v_prediction/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  const bad = await run('info', folder, '--prediction-type', 'x');
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /Invalid values/);
});
