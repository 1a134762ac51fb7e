// Hostile corpus, numerics: NaN/Inf weights are refused at load naming the tensor; finite weights
// that overflow stop the generation naming the stage (never a black image with exit 0); injected
// noise with NaN and sizes whose latent is too small for the UNet are refused. API and CLI, every
// test with a time limit.
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { IndetailPipeline } from '../dist/index.js';
import { assertUserError, copyTinyModel, inputImage, quick, rewriteTensor, runCli, scratch } from './helpers/hostile.mjs';

const LIMIT = { timeout: 30_000 };
const s = scratch();
after(() => s.remove());

let k = 0;
/** A copy of the tiny model with one tensor of one component rewritten (as `dtype`, default F32). */
function modelWith(component, tensor, fill, dtype) {
  const model = copyTinyModel(s.dir, `model-${k++}`);
  const file = path.join(model, component, component === 'text_encoder' ? 'model.safetensors' : 'diffusion_pytorch_model.safetensors');
  rewriteTensor(file, tensor, fill, dtype);
  return model;
}

const cli = (model, out) => runCli(['variation', '--model', model, '--image', inputImage, '--prompt', 'a cat', ...quick, '--out', out]);

/** Each case's weight is refused by IndetailPipeline.load and by the CLI with a message matching its pattern. */
async function assertRefusedAtLoad(cases) {
  for (const [component, tensor, fill, re, dtype] of cases) {
    const model = modelWith(component, tensor, fill, dtype);
    await assert.rejects(IndetailPipeline.load({ model, backend: 'cpu' }), (err) => err.code === 'ERR_INDETAIL_BAD_FILE' && re.test(err.message), tensor);
    const out = path.join(s.dir, `out-${component}-${k}`);
    assertUserError(assert, await cli(model, out), re, tensor);
    assert.ok(!existsSync(out), 'nothing written');
  }
}

test('NaN or infinite weights are refused at load, naming the file and the tensor', LIMIT, async () => {
  await assertRefusedAtLoad([
    ['unet', 'conv_in.weight', (i) => (i === 5 ? Number.NaN : 0.01), /unet\/diffusion_pytorch_model\.safetensors: weight 'conv_in\.weight' holds nan at index 5/],
    ['vae', 'decoder.conv_out.bias', (i) => (i === 2 ? Infinity : 0), /vae\/diffusion_pytorch_model\.safetensors: weight 'decoder\.conv_out\.bias' holds inf at index 2/],
    ['text_encoder', 'text_model.final_layer_norm.weight', (i) => (i === 0 ? -Infinity : 1), /weight 'text_model\.final_layer_norm\.weight' holds -inf at index 0/],
  ]);
});

test('NaN or infinite F16 and BF16 weights are refused too (scanned in their stored dtype), naming the file, tensor and index', LIMIT, async () => {
  // Indices are those of the stored (OIHW) layout; linears, convolutions and norms alike.
  await assertRefusedAtLoad([
    ['unet', 'conv_in.weight', (i) => (i === 7 ? Number.NaN : 0.5), /unet\/diffusion_pytorch_model\.safetensors: weight 'conv_in\.weight' holds nan at index 7/, 'F16'],
    ['unet', 'down_blocks.0.resnets.0.conv1.weight', (i) => (i === 300 ? -Infinity : 0.25), /weight 'down_blocks\.0\.resnets\.0\.conv1\.weight' holds -inf at index 300/, 'F16'],
    ['vae', 'decoder.conv_out.weight', (i) => (i === 11 ? Infinity : 0.125), /vae\/diffusion_pytorch_model\.safetensors: weight 'decoder\.conv_out\.weight' holds inf at index 11/, 'BF16'],
    ['text_encoder', 'text_model.encoder.layers.0.mlp.fc1.weight', (i) => (i === 40 ? Number.NaN : 0.5), /weight 'text_model\.encoder\.layers\.0\.mlp\.fc1\.weight' holds nan at index 40/, 'BF16'],
    ['text_encoder', 'text_model.final_layer_norm.bias', (i) => (i === 3 ? Infinity : 0), /weight 'text_model\.final_layer_norm\.bias' holds inf at index 3/, 'F16'],
  ]);
});

test('finite weights that overflow stop the generation, naming the stage; no image is written', LIMIT, async () => {
  const huge = () => 3e38;
  const cases = [
    ['unet', 'conv_out.weight', /inversion step 1 of 2 produced NaN or infinite values \(frame 0\)/],
    ['vae', 'encoder.conv_out.weight', /VAE encoding of the image prompt produced NaN or infinite values/],
    ['vae', 'decoder.conv_out.weight', /VAE decoding produced NaN or infinite values \(frame 0\)/],
  ];
  for (const [component, tensor, re] of cases) {
    const model = modelWith(component, tensor, huge);
    const pipe = await IndetailPipeline.load({ model, backend: 'cpu' });
    try {
      await assert.rejects(pipe.variation({ image: inputImage, prompt: 'a cat', steps: 2, size: 64, seed: 1 }), (err) => err.code === 'ERR_INDETAIL_NOT_FINITE' && re.test(err.message), tensor);
    } finally {
      pipe.dispose();
    }
    const out = path.join(s.dir, `out-${tensor}`);
    assertUserError(assert, await cli(model, out), re, tensor);
    assert.ok(!existsSync(out) || readdirSync(out).length === 0, 'no image written');
  }
});

test('injected noise with NaN and latents below the UNet\'s minimum are refused before any work', LIMIT, async () => {
  const pipe = await IndetailPipeline.load({ model: copyTinyModel(s.dir, 'plain'), backend: 'cpu' });
  try {
    const noise = new Float32Array(8 * 8 * 4).fill(0.5);
    noise[100] = Number.NaN;
    await assert.rejects(pipe.variation({ image: inputImage, prompt: 'x', steps: 2, size: 64, initialNoise: noise }), /Expected finite values in initialNoise but initialNoise\[100\] is NaN/);
    // The tiny UNet has 4 levels: its latent needs 2^3 = 8 pixels a side (64 image pixels).
    for (const size of [8, 16, { width: 64, height: 32 }]) {
      await assert.rejects(pipe.variation({ image: inputImage, prompt: 'x', steps: 2, size }), (err) => err.code === 'ERR_INDETAIL_INVALID_ARGUMENT' && /at least 64x64 for this model/.test(err.message));
    }
    const ok = await pipe.variation({ image: inputImage, prompt: 'x', steps: 1, size: 64, seed: 1 });
    assert.ok(ok.images[0].rgb.some((v) => v !== 0));
  } finally {
    pipe.dispose();
  }
});
