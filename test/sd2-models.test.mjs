// SD 2.x models beyond the golden suite: the single-file checkpoint (OpenCLIP text encoder read
// through row views of its packed q/k/v) reproduces the reference outputs like the folder does,
// and the prediction type of a single file comes from what the file says (ModelSpec / kohya
// metadata, a v_pred marker tensor), else the family rule, with contradictions refused naming
// both sides. Full-size SD 2.1 files are imitated by sparse files with the real key layout and
// shapes (only headers are read).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { CLIPTextEncoder, Engine, openSafetensors } from '../dist/index.js';
import { locateModel } from '../dist/models/model-files.js';
import { reportRows, runPipelineCase } from './golden/kinds/pipeline.mjs';
import { assertClose } from './helpers/compare.mjs';
import { findCase, loadManifest, sd21Root } from './helpers/fixtures.mjs';
import { sparseCheckpoint as sparseCheckpointIn, writeCheckpoint as writeCheckpointIn } from './helpers/sparse-checkpoint.mjs';

const dir = mkdtempSync(path.join(tmpdir(), 'indetail-sd2-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const folder = path.join(sd21Root, 'tiny-sd21v');
const single = path.join(sd21Root, 'tiny-sd21v.safetensors');
const manifest = loadManifest(sd21Root);

const writeCheckpoint = (name, header, data, dataLength) => writeCheckpointIn(dir, name, header, data, dataLength);
const sparseCheckpoint = (name, shapes, metadata) => sparseCheckpointIn(dir, name, shapes, metadata);

/** The key layout of a full-size SD 2.1 single file (what detection and shape adoption read). */
function sd21Shapes({ textLayers = 24, projection = true, extra = {} } = {}) {
  const u = 'model.diffusion_model.';
  const widths = [320, 640, 1280, 1280];
  const shapes = {
    [`${u}input_blocks.0.0.weight`]: [320, 4, 3, 3],
    [`${u}input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight`]: [320, 1024],
    [`${u}input_blocks.11.0.in_layers.0.weight`]: [1280],
    'first_stage_model.quant_conv.weight': [8, 8, 1, 1],
    'first_stage_model.decoder.up.3.block.0.conv1.weight': [512, 512, 3, 3],
    'cond_stage_model.model.token_embedding.weight': [49408, 1024],
    ...extra,
  };
  widths.forEach((w, b) => {
    shapes[`${u}input_blocks.${1 + 3 * b}.0.out_layers.3.weight`] = [w, w, 3, 3];
    if (b < 3) shapes[`${u}input_blocks.${3 + 3 * b}.0.op.weight`] = [w, w, 3, 3];
  });
  [128, 256, 512, 512].forEach((w, b) => (shapes[`first_stage_model.encoder.down.${b}.block.0.conv2.weight`] = [w, w, 3, 3]));
  for (let l = 0; l < textLayers; l++) shapes[`cond_stage_model.model.transformer.resblocks.${l}.ln_1.weight`] = [1024];
  if (projection) shapes['cond_stage_model.model.text_projection'] = [1024, 1024];
  return shapes;
}

/** A copy of the tiny SD 2.1 single file with other safetensors metadata. */
function withMetadata(name, metadata) {
  const buf = readFileSync(single);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  header.__metadata__ = { ...header.__metadata__, ...metadata };
  return writeCheckpoint(name, header, buf.subarray(8 + n));
}

const refused = (code, ...parts) => (err) => {
  assert.equal(err.code, code, err.message);
  for (const p of parts) assert.ok(p instanceof RegExp ? p.test(err.message) : err.message.includes(p), `message should name ${p}: ${err.message}`);
  return true;
};

test('the SD 2.1 single file gives the reference text encoder output (q/k/v read as row views of in_proj)', async () => {
  const c = findCase('text_encoder', manifest);
  const files = await locateModel(single, folder);
  const engine = new Engine({ backend: 'cpu' });
  const golden = await openSafetensors(path.join(sd21Root, c.file));
  try {
    const encoder = await CLIPTextEncoder.load(engine, { config: files.textEncoders[0].config, weights: files.textEncoders[0].weights });
    const [batch] = c.inputs.input_ids.shape;
    const { lastHiddenState } = await encoder.encode(Int32Array.from(golden.tensor('input_ids').readSync()), batch);
    assertClose(await lastHiddenState.readFloat32(), golden.tensor('last_hidden_state').readSync(), { atol: c.tolerance.abs }, 'last_hidden_state');
    lastHiddenState.dispose();
    encoder.dispose();
  } finally {
    golden.close();
    engine.dispose();
  }
});

test('the SD 2.1 single file reproduces a reference pipeline case like its folder', async (t) => {
  const c = findCase('pipe_imgvar_cond', manifest);
  const ctx = { root: sd21Root, manifest, file: path.join(sd21Root, c.file), t };
  const { rows } = await runPipelineCase(c, ctx, { model: { model: single, config: folder } });
  reportRows(t, rows);
});

test('a full-size SD 2.1 single file: SD 2.x by its keys, v_prediction and 768 px by the family rule, SD 2.1 heads, the 24th text layer dropped', async () => {
  const files = await locateModel(sparseCheckpoint('sd21.safetensors', sd21Shapes()));
  assert.equal(files.family.id, 'sd2');
  assert.equal(files.prediction.type, 'v_prediction');
  assert.match(files.prediction.reason, /SD 2\.x single files without a stated prediction type are taken as v_prediction/);
  assert.equal(files.unet.config.sample_size * 8, 768);
  assert.deepEqual(files.unet.config.attention_head_dim, [5, 10, 20, 20]);
  assert.equal(files.unet.config.cross_attention_dim, 1024);
  assert.equal(files.textEncoders[0].config.num_hidden_layers, 23);
  const names = Object.keys(files.textEncoders[0].weights.map);
  assert.ok(names.includes('text_model.encoder.layers.22.layer_norm1.weight'));
  assert.ok(!names.some((n) => n.startsWith('text_model.encoder.layers.23.') || n.startsWith('text_projection')), 'layer 23 and the projection are unused');
  assert.match(files.textEncoders[0].tokenizerDir, /configs[/\\]sd21[/\\]tokenizer$/);
  const epsilon = await locateModel(sparseCheckpoint('sd21-base.safetensors', sd21Shapes()), undefined, { predictionType: 'epsilon' });
  assert.equal(epsilon.prediction.type, 'epsilon');
  assert.equal(epsilon.prediction.reason, 'the predictionType option');
  assert.equal(epsilon.unet.config.sample_size * 8, 512, 'SD 2.x epsilon models are the 512 px base models');
});

test('what a single file says decides its prediction type', async () => {
  const cases = [
    [{ 'modelspec.prediction_type': 'epsilon' }, {}, 'epsilon', /metadata modelspec\.prediction_type = "epsilon"/],
    [{ 'modelspec.prediction_type': 'v' }, {}, 'v_prediction', /modelspec\.prediction_type = "v"/],
    [{ 'modelspec.architecture': 'stable-diffusion-v2-512' }, {}, 'epsilon', /modelspec\.architecture/],
    [{ 'modelspec.architecture': 'stable-diffusion-v2-768-v' }, {}, 'v_prediction', /modelspec\.architecture/],
    [{ ss_v_parameterization: 'True' }, {}, 'v_prediction', /ss_v_parameterization/],
    [undefined, { v_pred: [0] }, 'v_prediction', /holds a 'v_pred' marker tensor/],
  ];
  for (const [[metadata, extra, type, reason], i] of cases.map((c, i) => [c, i])) {
    const files = await locateModel(sparseCheckpoint(`said-${i}.safetensors`, sd21Shapes({ extra }), metadata));
    assert.equal(files.prediction.type, type, JSON.stringify(metadata ?? extra));
    assert.match(files.prediction.reason, reason);
    assert.equal(files.unet.config.sample_size * 8, type === 'epsilon' ? 512 : 768);
  }
  await assert.rejects(
    locateModel(sparseCheckpoint('bad-type.safetensors', sd21Shapes(), { 'modelspec.prediction_type': 'flow' })),
    refused('ERR_INDETAIL_UNSUPPORTED', 'modelspec.prediction_type = "flow"', 'only "epsilon" and "v"'),
  );
});

test('contradictions about the prediction type are errors naming both sides', async () => {
  const eps = sparseCheckpoint('eps.safetensors', sd21Shapes(), { 'modelspec.prediction_type': 'epsilon' });
  await assert.rejects(
    locateModel(eps, undefined, { predictionType: 'v_prediction' }),
    refused('ERR_INDETAIL_INVALID_ARGUMENT', 'the predictionType option says v_prediction', `${eps} metadata modelspec.prediction_type = "epsilon" says epsilon`),
  );
  const mixed = sparseCheckpoint('mixed.safetensors', sd21Shapes(), { 'modelspec.prediction_type': 'epsilon', 'modelspec.architecture': 'stable-diffusion-v2-768-v' });
  await assert.rejects(locateModel(mixed), refused('ERR_INDETAIL_BAD_FILE', 'modelspec.prediction_type = "epsilon" says epsilon', 'modelspec.architecture = "stable-diffusion-v2-768-v" says v_prediction'));
  // The tiny file marked epsilon, loaded with its folder's configs, whose scheduler says v_prediction.
  const tinyEps = withMetadata('tiny-eps.safetensors', { 'modelspec.prediction_type': 'epsilon' });
  await assert.rejects(
    locateModel(tinyEps, folder),
    refused('ERR_INDETAIL_BAD_FILE', 'says epsilon', `${path.join(folder, 'scheduler', 'scheduler_config.json')} (prediction_type) says v_prediction`),
  );
  await assert.rejects(locateModel(single, undefined, { predictionType: 'x' }), refused('ERR_INDETAIL_INVALID_ARGUMENT', "Expected 'epsilon' or 'v_prediction' for predictionType"));
});

test('SD 2.x single files whose text encoder does not fit are refused by name', async () => {
  await assert.rejects(
    locateModel(sparseCheckpoint('short.safetensors', sd21Shapes({ textLayers: 22 }))),
    refused('ERR_INDETAIL_UNSUPPORTED', 'its text encoder has 22 layers but the shipped Stable Diffusion 2.x text encoder config says num_hidden_layers 23', '23 or 24'),
  );
  // Without the --config folder, the tiny file's widths do not fit SD 2.x's 64-wide heads.
  await assert.rejects(locateModel(single), refused('ERR_INDETAIL_UNSUPPORTED', 'its UNet widths [32,32,64,64] do not fit', '--config'));
});
