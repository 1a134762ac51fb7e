// The CLI on the tiny SDXL fixture model, as a diffusers folder and as its single file (with the
// folder's configs): variation and cross run with SDXL's defaults (guidance 5.0, the model's size),
// --vae takes another VAE, the structure-guided task is refused with a clear message and exit
// code 1, and `indetail info` names the family and its conditioning.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { readPngText } from '../dist/index.js';
import { run } from './helpers/cli.mjs';
import { fixturePath, repoRoot } from './helpers/fixtures.mjs';

const dir = mkdtempSync(path.join(tmpdir(), 'indetail-cli-sdxl-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const root = path.join(repoRoot, 'test', 'fixtures-sdxl');
const folder = path.join(root, 'tiny-sdxl');
const single = path.join(root, 'tiny-sdxl.safetensors');
const image = path.join(root, 'golden', 'input_image.png');
const models = { folder: ['--model', folder], 'single file': ['--model', single, '--config', folder] };
const common = ['--image', image, '--steps', '2', '--seed', '5', '--json'];

async function parameters(r) {
  assert.equal(r.status, 0, r.stderr);
  const summary = JSON.parse(r.stdout);
  return JSON.parse((await readPngText(summary.files[0])).parameters);
}

for (const [label, model] of Object.entries(models)) {
  test(`indetail variation and cross run on the tiny SDXL ${label}, with SDXL's defaults`, async () => {
    const out = path.join(dir, label.replace(' ', '-'));
    const v = await parameters(await run('variation', ...model, ...common, '--prompt', 'a cat', '--out', out));
    assert.deepEqual([v.family, v.task, v.guidanceScale, v.width, v.height, v.steps, v.stratifiedSteps], ['sdxl', 'variation', 5, 128, 128, 2, 10]);
    const c = await parameters(await run('cross', ...model, ...common, '--prompt', 'an owl', '--size', '64x96', '--out', out, '--vae', path.join(folder, 'vae')));
    assert.deepEqual([c.family, c.task, c.width, c.height], ['sdxl', 'cross', 64, 96]);
  });
}

test('indetail structure on SDXL exits 1 with a clear message and writes nothing', async () => {
  const out = path.join(dir, 'structure');
  const r = await run('structure', '--model', folder, '--controlnet', fixturePath('tiny-sd15-controlnet'), '--control', image, ...common, '--prompt', 'a penguin', '--out', out);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /is Stable Diffusion XL: structure-guided generation is not available for SDXL yet/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  assert.equal(existsSync(out), false);
});

test('indetail info names the SDXL family, its conditioning and both text encoders', async () => {
  const r = await run('info', single, '--config', folder, '--json');
  assert.equal(r.status, 0, r.stderr);
  const d = JSON.parse(r.stdout);
  assert.match(d.family, /^sdxl \(Stable Diffusion XL\): its text encoder is stored under 'conditioner\.embedders\.\*'/);
  assert.match(d.conditioning, /two text encoders' penultimate hidden states concatenated/);
  assert.deepEqual([d.text_encoder.hidden_size, d.text_encoder_2.hidden_size, d.text_encoder_2.layers_in_file], [16, 24, 3]);
  assert.equal(d.unet.addition_embed_type, 'text_time');
  assert.equal(d.default_guidance_scale, 5);
  assert.match(d.vae.precision, /bf16 on CUDA/);
  assert.match(d.unsupported_tasks.structure, /not available for SDXL/);
});
