// The public pipeline API on the tiny fixture model (random weights): the three tasks, seeds,
// progress, cancellation, metadata, single file vs folder, and bad input.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { IndetailError, IndetailPipeline, readPngText } from '../dist/index.js';
import { fixturePath } from './helpers/fixtures.mjs';

const model = fixturePath('tiny-sd15');
const controlnet = fixturePath('tiny-sd15-controlnet');
const image = fixturePath('golden', 'input_image.png');
const control = fixturePath('golden', 'control_image.png');
const base = { image, prompt: 'a cat', steps: 3, size: 64 };

let pipe;
before(async () => {
  pipe = await IndetailPipeline.load({ model, controlnet, backend: 'cpu' });
});
after(() => pipe?.dispose());

test('variation returns PNGs with the parameters and seed recorded; the same seed gives the same image', async () => {
  const a = await pipe.variation({ ...base, samples: 2, seed: 7 });
  assert.equal(a.images.length, 2);
  assert.equal(a.backend, 'cpu');
  assert.deepEqual([a.images[0].width, a.images[0].height, a.images[0].frame], [64, 64, 1]);
  assert.equal(a.images[0].rgb.length, 64 * 64 * 3);
  const text = await readPngText(a.images[0].png);
  const params = JSON.parse(text.parameters);
  assert.equal(params.seed, '7');
  assert.equal(params.task, 'variation');
  assert.equal(params.prompt, 'a cat');
  assert.equal(params.inversionPrompt, 'a cat', 'variation inverts with the prompt');
  assert.equal(params.guidanceMode, 'conflict-free');
  const b = await pipe.variation({ ...base, samples: 2, seed: 7 });
  assert.deepEqual(b.images[0].rgb, a.images[0].rgb);
  assert.deepEqual(b.images[1].rgb, a.images[1].rgb);
  const c = await pipe.variation({ ...base, samples: 1, seed: 8 });
  assert.notDeepEqual(c.images[0].rgb, a.images[0].rgb);
  for (const k of ['encode', 'inversion', 'denoise', 'decode', 'total']) assert.ok(a.timings[k] >= 0);
});

test('cross-prompt inverts with an empty prompt; structure-guided needs the control image', async () => {
  const r = await pipe.cross({ ...base, prompt: 'an owl', seed: 1 });
  assert.equal(r.parameters.inversionPrompt, '');
  assert.equal(r.parameters.guidanceScale, 7.5);
  const s = await pipe.structure({ ...base, prompt: 'a penguin', control, seed: 1, includeReconstruction: true });
  assert.equal(s.images.length, 1);
  assert.equal(s.reconstruction.frame, 0);
  assert.equal(s.parameters.guidanceScale, 5);
  assert.equal(s.parameters.stratifiedSteps, 25);
  await assert.rejects(pipe.structure({ ...base, seed: 1 }), /Expected a file path, image bytes or \{ data, width, height \} RGB for control/);
});

test('progress is reported per step and phase; an AbortSignal cancels between steps and the pipeline stays usable', async () => {
  const events = [];
  await pipe.variation({ ...base, seed: 3, onProgress: (e) => events.push(`${e.phase}:${e.step}/${e.total}`) });
  assert.deepEqual(events, ['encode:1/1', 'inversion:1/3', 'inversion:2/3', 'inversion:3/3', 'denoise:1/3', 'denoise:2/3', 'denoise:3/3', 'decode:1/1']);
  const ac = new AbortController();
  await assert.rejects(
    pipe.variation({ ...base, seed: 3, signal: ac.signal, onProgress: (e) => e.phase === 'inversion' && e.step === 2 && ac.abort() }),
    (err) => err instanceof IndetailError && err.code === 'ERR_INDETAIL_CANCELLED',
  );
  const again = await pipe.variation({ ...base, seed: 3 });
  assert.equal(again.images.length, 1);
});

test('conflicting guidance and the attention variants change the result; "none" ignores the image prompt', async () => {
  const ref = await pipe.variation({ ...base, seed: 5 });
  const conflicting = await pipe.variation({ ...base, seed: 5, guidanceMode: 'conflicting' });
  assert.notDeepEqual(conflicting.images[0].rgb, ref.images[0].rgb);
  const none1 = await pipe.variation({ ...base, seed: 5, attention: 'none' });
  const none2 = await pipe.variation({ ...base, seed: 5, attention: 'none', guidanceMode: 'conflicting' });
  assert.deepEqual(none1.images[0].rgb, none2.images[0].rgb, 'without image-prompt attention the guidance mode has nothing to change');
  for (const attention of ['concat', 'replace']) {
    const r = await pipe.variation({ ...base, seed: 5, attention });
    assert.notDeepEqual(r.images[0].rgb, ref.images[0].rgb, attention);
  }
});

test('the quality suffix: the reference\'s by default, replaced or turned off by qualitySuffix, recorded in the PNG', async () => {
  const prompts = async (qualitySuffix) => {
    const trace = {};
    const r = await pipe.variation({ ...base, steps: 1, seed: 2, trace, ...(qualitySuffix !== undefined ? { qualitySuffix } : {}) });
    return { ...trace.prompts, recorded: JSON.parse((await readPngText(r.images[0].png)).parameters).qualitySuffix, rgb: r.images[0].rgb };
  };
  const d = await prompts(undefined);
  assert.equal(d.inversion, 'a cat, best quality, extremely detailed.');
  assert.deepEqual(d.cond, ['a cat, best quality, extremely detailed.', 'a cat, best quality, extremely detailed.']);
  assert.deepEqual(d.uncond, ['', 'bad anatomy, bad hands, cropped, worst quality'], 'negative prompts never get the suffix');
  assert.equal(d.recorded, ', best quality, extremely detailed.');
  const off = await prompts(false);
  assert.equal(off.inversion, 'a cat');
  assert.deepEqual(off.cond, ['a cat', 'a cat']);
  assert.equal(off.recorded, false);
  assert.notDeepEqual(off.rgb, d.rgb, 'the suffix changes the conditioning');
  const other = await prompts(', 35mm photo');
  assert.deepEqual(other.cond, ['a cat, 35mm photo', 'a cat, 35mm photo']);
  assert.equal(other.recorded, ', 35mm photo');
  await assert.rejects(pipe.variation({ ...base, qualitySuffix: true }), (err) => err.code === 'ERR_INDETAIL_INVALID_ARGUMENT' && /Expected a string or false for qualitySuffix but received true/.test(err.message));
});

test('bad options are refused by name before any work', async () => {
  const cases = [
    [{ ...base, steps: 0 }, /Expected an integer between 1 and 1000 for steps but received 0/],
    [{ ...base, samples: 1.5 }, /for samples but received 1.5/],
    [{ ...base, size: 100 }, /size/],
    [{ ...base, guidanceScale: Number.NaN }, /for guidanceScale/],
    [{ ...base, guidanceMode: 'sideways' }, /Expected one of 'conflict-free', 'conflicting' for guidanceMode but received "sideways"/],
    [{ ...base, attention: 'magic' }, /for attention but received "magic"/],
    [{ ...base, seed: -1 }, /for seed but received -1/],
    [{ ...base, prompt: 42 }, /Expected a string for prompt but received 42/],
    [{ ...base, image: 12 }, /for image but received 12/],
    [{ ...base, initialNoise: new Float32Array(3) }, /initialNoise/],
    [{ ...base, control }, /control is only used by the structure-guided task/],
  ];
  for (const [opts, re] of cases) {
    await assert.rejects(pipe.variation(opts), (err) => err.code === 'ERR_INDETAIL_INVALID_ARGUMENT' && re.test(err.message), String(re));
  }
  await assert.rejects(pipe.variation({ ...base, image: path.join(path.dirname(image), 'missing.png') }), (err) => err.code === 'ERR_INDETAIL_IO' && /missing\.png/.test(err.message));
  await assert.rejects(pipe.variation({ ...base, image: fixturePath('golden', 'manifest.json') }), (err) => err.code === 'ERR_INDETAIL_BAD_FILE');
});

test('the single-file checkpoint gives the same images as the diffusers folder', async () => {
  const single = await IndetailPipeline.load({ model: fixturePath('tiny-sd15.safetensors'), config: model, backend: 'cpu' });
  try {
    const a = await single.variation({ ...base, seed: 11, samples: 2 });
    const b = await pipe.variation({ ...base, seed: 11, samples: 2 });
    assert.deepEqual(a.images[0].rgb, b.images[0].rgb);
    assert.deepEqual(a.images[1].rgb, b.images[1].rgb);
  } finally {
    single.dispose();
  }
});

test('loading refuses what is not an SD 1.x / 2.x / XL model, and pickles, with a reason', async () => {
  await assert.rejects(IndetailPipeline.load({ model: fixturePath('no-such-model') }), (err) => err.code === 'ERR_INDETAIL_IO' && /model not found/.test(err.message));
  await assert.rejects(IndetailPipeline.load({ model: fixturePath('golden') }), (err) => err.code === 'ERR_INDETAIL_IO' && /model_index\.json not found/.test(err.message));
  const dir = mkdtempSync(path.join(tmpdir(), 'indetail-pickle-'));
  try {
    const ckpt = path.join(dir, 'model.ckpt');
    writeFileSync(ckpt, 'not read');
    await assert.rejects(IndetailPipeline.load({ model: ckpt }), (err) => err.code === 'ERR_INDETAIL_UNSUPPORTED' && /pickle checkpoint.*never loads.*Convert it to \.safetensors/.test(err.message));
    writeFileSync(path.join(dir, 'model_index.json'), JSON.stringify({ _class_name: 'KandinskyPipeline' }));
    await assert.rejects(
      IndetailPipeline.load({ model: dir }),
      (err) => err.code === 'ERR_INDETAIL_UNSUPPORTED' && /describes a KandinskyPipeline; indetail loads StableDiffusionXLPipeline, StableDiffusionPipeline, StableDiffusionControlNetPipeline \(Stable Diffusion XL, Stable Diffusion 2\.x, Stable Diffusion 1\.x\)/.test(err.message),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  await assert.rejects(
    IndetailPipeline.load({ model, controlnet: fixturePath('tiny-sd15', 'unet') }),
    (err) => err.code === 'ERR_INDETAIL_UNSUPPORTED' && /_class_name = "UNet2DConditionModel" is not supported \(supported: "ControlNetModel"\)/.test(err.message),
  );
  const disposed = await IndetailPipeline.load({ model, backend: 'cpu' });
  disposed.dispose();
  await assert.rejects(disposed.variation(base), (err) => err.code === 'ERR_INDETAIL_DISPOSED');
});
