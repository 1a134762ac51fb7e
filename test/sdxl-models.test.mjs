// SDXL beyond the golden suite: how folders and single files are recognised and read (the shipped
// full-size configs for single files, imitated by a sparse file with the real key layout), the
// single file reproducing a reference pipeline case, the family's call defaults (guidance 5.0, the
// model's size), the image-prompt cache with the added conditions, a separate VAE, the VAE's
// precision rule, the structure-guided task refused by name, and the checks without weights
// (validateLoadOptions, IndetailPipeline.validateCall, the cost limit at SDXL's full size).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { FAMILIES, IndetailPipeline, LOAD_OPTION_KEYS, cpuHasBf16, locateModel, pipelinePrecisions, validateLoadOptions } from '../dist/index.js';
import { reportRows, runPipelineCase } from './golden/kinds/pipeline.mjs';
import { findCase, fixturePath, loadManifest, repoRoot } from './helpers/fixtures.mjs';
import { sparseCheckpoint } from './helpers/sparse-checkpoint.mjs';

const dir = mkdtempSync(path.join(tmpdir(), 'indetail-sdxl-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const root = path.join(repoRoot, 'test', 'fixtures-sdxl');
const folder = path.join(root, 'tiny-sdxl');
const single = path.join(root, 'tiny-sdxl.safetensors');
const image = path.join(root, 'golden', 'input_image.png');
const manifest = loadManifest(root);
const family = (id) => FAMILIES.find((f) => f.id === id);

const refused = (code, ...parts) => (err) => {
  assert.equal(err.code, code, err.message);
  for (const p of parts) assert.ok(p instanceof RegExp ? p.test(err.message) : err.message.includes(p), `message should name ${p}: ${err.message}`);
  return true;
};

test('an SDXL folder: the family from model_index.json, two text encoders with their tokenizers, the VAE upcast rule', async () => {
  const files = await locateModel(folder);
  assert.equal(files.family.id, 'sdxl');
  assert.equal(files.familyReason, 'model_index.json names a StableDiffusionXLPipeline');
  assert.deepEqual(files.textEncoders.map((t) => [t.folder, path.basename(t.tokenizerDir)]), [['text_encoder', 'tokenizer'], ['text_encoder_2', 'tokenizer_2']]);
  assert.equal(files.prediction.type, 'epsilon');
  // force_upcast (true in SDXL's VAE config, and diffusers' default) keeps SDXL's VAE out of fp16; an fp16-fixed VAE says false.
  assert.equal(files.family.vaeNeedsUpcast(files.vae.config), true);
  assert.equal(files.family.vaeNeedsUpcast({ ...files.vae.config, force_upcast: false }), false);
  assert.equal(family('sd1').vaeNeedsUpcast(files.vae.config), false, 'SD 1.x pipelines ignore force_upcast, as diffusers does');
  // Without a pipeline class, the UNet's text_time added conditions say SDXL.
  assert.equal(family('sdxl').detectFolder({ index: {}, unet: files.unet.config, textEncoder: files.textEncoders[0].config }), 'its UNet takes text_time added conditions (SDXL)');
});

test('the SDXL single file reproduces a reference pipeline case like its folder', async (t) => {
  const c = findCase('pipe_crossprompt_owl_all', manifest);
  const ctx = { root, manifest, file: path.join(root, c.file), t };
  const { rows } = await runPipelineCase(c, ctx, { model: { model: single, config: folder } });
  reportRows(t, rows);
});

/** The key layout of a full-size SDXL base 1.0 single file (what detection and shape adoption read). */
function sdxlShapes({ secondTextLayers = 32 } = {}) {
  const u = 'model.diffusion_model.';
  const te1 = 'conditioner.embedders.0.transformer.text_model.';
  const te2 = 'conditioner.embedders.1.model.';
  const shapes = {
    [`${u}input_blocks.0.0.weight`]: [320, 4, 3, 3],
    [`${u}input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight`]: [640, 2048],
    [`${u}input_blocks.8.1.transformer_blocks.9.attn2.to_k.weight`]: [1280, 2048],
    [`${u}label_emb.0.0.weight`]: [1280, 2816],
    'first_stage_model.quant_conv.weight': [8, 8, 1, 1],
    'first_stage_model.decoder.up.3.block.0.conv1.weight': [512, 512, 3, 3],
    [`${te1}embeddings.token_embedding.weight`]: [49408, 768],
    [`${te2}token_embedding.weight`]: [49408, 1280],
    [`${te2}text_projection`]: [1280, 1280],
  };
  [320, 640, 1280].forEach((w, b) => {
    shapes[`${u}input_blocks.${1 + 3 * b}.0.out_layers.3.weight`] = [w, w, 3, 3];
    if (b < 2) shapes[`${u}input_blocks.${3 + 3 * b}.0.op.weight`] = [w, w, 3, 3];
  });
  [128, 256, 512, 512].forEach((w, b) => (shapes[`first_stage_model.encoder.down.${b}.block.0.conv2.weight`] = [w, w, 3, 3]));
  for (let l = 0; l < 12; l++) shapes[`${te1}encoder.layers.${l}.layer_norm1.weight`] = [768];
  for (let l = 0; l < secondTextLayers; l++) shapes[`${te2}transformer.resblocks.${l}.ln_1.weight`] = [1280];
  return shapes;
}

test('a full-size SDXL single file: SDXL by its keys, the shipped configs (1024 px, heads 5/10/20, 2048-wide text, 2816 added inputs), both tokenizers', async () => {
  const files = await locateModel(sparseCheckpoint(dir, 'sdxl.safetensors', sdxlShapes()));
  assert.equal(files.family.id, 'sdxl');
  assert.match(files.familyReason, /conditioner\.embedders\./);
  assert.equal(files.prediction.type, 'epsilon');
  assert.equal(files.prediction.reason, 'SDXL models predict epsilon');
  const u = files.unet.config;
  assert.equal(u.sample_size * 8, 1024);
  assert.deepEqual([u.block_out_channels, u.attention_head_dim, u.cross_attention_dim, u.transformer_layers_per_block], [[320, 640, 1280], [5, 10, 20], 2048, [1, 2, 10]]);
  assert.deepEqual([u.addition_embed_type, u.addition_time_embed_dim, u.projection_class_embeddings_input_dim], ['text_time', 256, 2816]);
  assert.equal(files.vae.config.scaling_factor, 0.13025);
  const [te1, te2] = files.textEncoders;
  assert.deepEqual([te1.config.hidden_size, te1.config.num_hidden_layers, te2.config.hidden_size, te2.config.num_hidden_layers], [768, 12, 1280, 32]);
  assert.deepEqual(te2.weights.map['text_projection.weight'], { key: 'conditioner.embedders.1.model.text_projection', transpose: true });
  assert.match(te1.tokenizerDir, /configs[/\\]sdxl[/\\]tokenizer$/);
  assert.match(te2.tokenizerDir, /configs[/\\]sdxl[/\\]tokenizer_2$/);
  // The second encoder's layers are all used (the pooled output needs the last one).
  await assert.rejects(
    locateModel(sparseCheckpoint(dir, 'sdxl-short.safetensors', sdxlShapes({ secondTextLayers: 31 }))),
    refused('ERR_INDETAIL_UNSUPPORTED', 'its text encoder has 31 layers but the shipped Stable Diffusion XL text encoder 2 config says num_hidden_layers 32'),
  );
});

test('SDXL calls: guidance 5.0 and the model\'s size by default, the image-prompt cache gives the same bits, structure refused by name', async () => {
  const pipe = await IndetailPipeline.load({ model: folder, backend: 'cpu' });
  try {
    const call = { image, prompt: 'a photograph of a cat', steps: 2, seed: 3 };
    const first = await pipe.variation(call);
    assert.deepEqual([first.parameters.family, first.parameters.guidanceScale, first.parameters.width, first.parameters.height], ['sdxl', 5, 128, 128]);
    assert.equal(first.kvCache.status, 'miss');
    const again = await pipe.variation(call);
    assert.equal(again.kvCache.status, 'hit');
    assert.ok(again.kvCache.reusedSteps > 0, 'the cached call left the image prompt out of the batch');
    assert.deepEqual(again.images[0].rgb, first.images[0].rgb, 'the cached call gives the same bits');
    const owl = await pipe.cross({ image, prompt: 'an owl', steps: 2, seed: 3, guidanceScale: 7 });
    assert.equal(owl.parameters.guidanceScale, 7);
    await assert.rejects(
      pipe.structure({ image, control: image, prompt: 'a penguin', steps: 2 }),
      refused('ERR_INDETAIL_UNSUPPORTED', 'is Stable Diffusion XL: structure-guided generation is not available for SDXL'),
    );
  } finally {
    pipe.dispose();
  }
  await assert.rejects(
    IndetailPipeline.load({ model: folder, backend: 'cpu', controlnet: fixturePath('tiny-sd15-controlnet') }),
    refused('ERR_INDETAIL_UNSUPPORTED', 'structure-guided generation is not available for SDXL'),
  );
});

test('a separate VAE: the folder\'s vae/ or a checkpoint\'s first_stage_model gives the same bits; a missing one is named', async () => {
  const call = { image, prompt: 'a cat', steps: 1, seed: 5, includeReconstruction: true };
  const run = async (vae) => {
    const pipe = await IndetailPipeline.load({ model: folder, backend: 'cpu', kvCache: false, ...(vae ? { vae } : {}) });
    try {
      const r = await pipe.variation(call);
      return [r.reconstruction.rgb, r.images[0].rgb];
    } finally {
      pipe.dispose();
    }
  };
  const own = await run();
  assert.deepEqual(await run(path.join(folder, 'vae')), own, 'a diffusers VAE folder');
  assert.deepEqual(await run(single), own, 'the VAE tensors of a single file (first_stage_model.*, original names)');
  await assert.rejects(IndetailPipeline.load({ model: folder, backend: 'cpu', vae: path.join(dir, 'nope') }), refused('ERR_INDETAIL_IO', 'VAE not found', 'nope'));
  await assert.rejects(IndetailPipeline.load({ model: folder, backend: 'cpu', vae: path.join(folder, 'text_encoder', 'model.safetensors') }), refused('ERR_INDETAIL_UNSUPPORTED', 'not a VAE checkpoint'));
  await assert.rejects(IndetailPipeline.load({ model: folder, backend: 'cpu', vaePrecision: 'f16' }), refused('ERR_INDETAIL_INVALID_ARGUMENT', "Expected 'f32' or 'bf16' (or 'auto') for vaePrecision on the cpu backend"));
});

test('one precision rule for every model: the VAE follows precision unless it overflows in f16 (then bf16) or vaePrecision says otherwise', async () => {
  const channels = (dir) => JSON.parse(readFileSync(path.join(dir, 'unet', 'config.json'), 'utf8')).block_out_channels;
  const full = channels(path.join(repoRoot, 'configs', 'sdxl'));
  const tiny = channels(folder);
  const rule = (device, requested, unet, vaeNeedsUpcast) => pipelinePrecisions(requested, device, { unetBlockOutChannels: unet, vaeNeedsUpcast });
  assert.deepEqual(rule('cuda', {}, full, true), { models: 'f16', vae: 'bf16' }, "SDXL on CUDA: an f16 UNet, SDXL's VAE in bf16");
  assert.deepEqual(rule('cuda', {}, full, false), { models: 'f16', vae: 'f16' }, 'an fp16-fixed VAE stays f16');
  assert.deepEqual(rule('cuda', { precision: 'bf16' }, full, true), { models: 'bf16', vae: 'bf16' });
  assert.deepEqual(rule('cuda', { vaePrecision: 'f16' }, full, true), { models: 'f16', vae: 'f16' }, 'vaePrecision overrides');
  const cpuAuto = cpuHasBf16() ? 'bf16' : 'f32';
  assert.deepEqual(rule('cpu', {}, full, true), { models: cpuAuto, vae: cpuAuto }, "on the CPU the VAE follows the models' 'auto'");
  assert.deepEqual(rule('cpu', {}, tiny, true), { models: 'f32', vae: 'f32' }, 'tiny models run f32');
  assert.deepEqual(rule('cpu', { precision: 'bf16', vaePrecision: 'f32' }, full, true), { models: 'bf16', vae: 'f32' });
  assert.deepEqual(rule('cpu', { vaePrecision: 'auto' }, tiny, true), { models: 'f32', vae: 'f32' });
  assert.throws(() => rule('cpu', { vaePrecision: 'f16' }, full, true), refused('ERR_INDETAIL_INVALID_ARGUMENT', 'for vaePrecision on the cpu backend'));
  assert.throws(() => validateLoadOptions({ model: folder, vaePrecision: 'f8' }), refused('ERR_INDETAIL_INVALID_ARGUMENT', 'for vaePrecision but received "f8"'));
  // A pipeline applies it: the VAE on an engine of its own when its precision differs.
  const pipe = await IndetailPipeline.load({ model: folder, backend: 'cpu', vaePrecision: 'bf16', kvCache: false });
  try {
    assert.deepEqual([pipe.precision, pipe.vaePrecision], ['f32', 'bf16']);
    assert.notEqual(pipe.parts.vae.engine, pipe.engine);
    const r = await pipe.variation({ image, prompt: 'a cat', steps: 1, seed: 5 });
    assert.equal(r.images.length, 1);
  } finally {
    pipe.dispose();
  }
});

test('checks without weights: validateCall refuses what an SDXL call would (structure, a missing VAE), the load options vae and vaePrecision; the full-size default 1024x1024 passes the CPU cost limit', async () => {
  const call = { image, prompt: 'a cat', steps: 2 };
  assert.ok(LOAD_OPTION_KEYS.includes('vae') && LOAD_OPTION_KEYS.includes('vaePrecision'));
  validateLoadOptions({ model: folder, vae: single, vaePrecision: 'bf16' });
  assert.throws(() => validateLoadOptions({ model: folder, vaePrecison: 'bf16' }), refused('ERR_INDETAIL_INVALID_ARGUMENT', "did you mean 'vaePrecision'"));
  assert.throws(() => validateLoadOptions({ model: folder, vae: '' }), refused('ERR_INDETAIL_INVALID_ARGUMENT', 'for vae'));
  await IndetailPipeline.validateCall({ model: folder, backend: 'cpu', vae: single }, 'variation', call);
  await assert.rejects(IndetailPipeline.validateCall({ model: folder, backend: 'cpu', vae: path.join(dir, 'nope') }, 'variation', call), refused('ERR_INDETAIL_IO', 'VAE not found'));
  await assert.rejects(
    IndetailPipeline.validateCall({ model: folder, backend: 'cpu' }, 'structure', { ...call, control: image }),
    refused('ERR_INDETAIL_UNSUPPORTED', 'structure-guided generation is not available for SDXL'),
  );
  // The shipped full-size configs (configs only: random weights are never made here). SDXL's
  // default size costs more than the CPU's limit for SD 1.x (6.8 TFLOP per pass at 1024x1024),
  // yet a model always runs at its own size and sizes of as many pixels; far larger ones are refused.
  const full = { model: path.join(repoRoot, 'configs', 'sdxl'), randomWeights: 1, backend: 'cpu' };
  await IndetailPipeline.validateCall(full, 'variation', call);
  await IndetailPipeline.validateCall(full, 'cross', { ...call, size: { width: 1152, height: 896 } });
  await IndetailPipeline.validateCall(full, 'cross', { ...call, size: { width: 1344, height: 768 } });
  await assert.rejects(IndetailPipeline.validateCall(full, 'variation', { ...call, size: 2048 }), refused('ERR_INDETAIL_INVALID_ARGUMENT', /size 2048x2048 would cost about \d+ TFLOP per UNet pass/));
  await IndetailPipeline.validateCall(full, 'variation', { ...call, size: 2048, allowLargeSize: true });
});
