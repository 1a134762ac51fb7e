// The UNet and ControlNet beyond the goldens: configs the engine refuses (by field name),
// checkpoints that do not match their config, linear projections, the attention policy
// (decoder self-attention only), per-frame timesteps, per-frame control scales, lifecycles.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { ControlNet, Engine, IndetailError, UNet, openSafetensors } from '../dist/index.js';
import { maxAbsDiff } from './helpers/compare.mjs';
import { fixturePath, repoRoot } from './helpers/fixtures.mjs';
import { xorshiftNoise } from './helpers/random.mjs';

const unetDir = fixturePath('tiny-sd15', 'unet');
const controlnetDir = fixturePath('tiny-sd15-controlnet');
const tinyConfig = () => JSON.parse(readFileSync(path.join(unetDir, 'config.json'), 'utf8'));
const tinyControlNetConfig = () => JSON.parse(readFileSync(path.join(controlnetDir, 'config.json'), 'utf8'));
const tmp = mkdtempSync(path.join(tmpdir(), 'indetail-unet-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const engine = new Engine();
let tinyUNet;
const tiny = () => (tinyUNet ??= UNet.load(engine, { dir: unetDir }));

const tensor = (shape, seed) => engine.tensor(xorshiftNoise(shape.reduce((a, b) => a * b, 1), seed), shape);
const read = (t) => t.readSync();
// Frame f of an NHWC / [N, L, C] result.
const frame = (data, shape, f) => {
  const per = shape.slice(1).reduce((a, b) => a * b, 1);
  return data.subarray(f * per, (f + 1) * per);
};

// A diffusers folder with an edited copy of the tiny config and the tiny weights.
function editedDir(name, patch, weightsFile = path.join(unetDir, 'diffusion_pytorch_model.safetensors')) {
  const dir = path.join(tmp, name);
  mkdirSync(dir);
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...tinyConfig(), ...patch }));
  symlinkSync(weightsFile, path.join(dir, 'diffusion_pytorch_model.safetensors'));
  return dir;
}

const refused = (code, ...parts) => (err) => {
  assert.ok(err instanceof IndetailError, `expected an IndetailError, got ${err}`);
  assert.equal(err.code, code, err.message);
  for (const p of parts) assert.ok(err.message.includes(p), `message should name ${p}: ${err.message}`);
  return true;
};

test('UNet configs with features the engine does not implement are refused by field and value', async () => {
  const down = ['CrossAttnDownBlock2D', 'SimpleCrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'];
  const up = ['UpBlock2D', 'CrossAttnUpBlock2D', 'AttnUpBlock2D', 'CrossAttnUpBlock2D'];
  const cases = [
    [{ class_embed_type: 'timestep' }, 'class_embed_type', '"timestep"'],
    [{ num_class_embeds: 10 }, 'num_class_embeds', '10'],
    [{ addition_embed_type: 'text_image' }, 'addition_embed_type', '"text_image"'],
    [{ encoder_hid_dim: 768, encoder_hid_dim_type: 'text_proj' }, 'encoder_hid_dim', '768'],
    [{ time_cond_proj_dim: 256 }, 'time_cond_proj_dim', '256'],
    [{ resnet_time_scale_shift: 'scale_shift' }, 'resnet_time_scale_shift', '"scale_shift"'],
    [{ time_embedding_type: 'fourier' }, 'time_embedding_type', '"fourier"'],
    [{ dual_cross_attention: true }, 'dual_cross_attention', 'true'],
    [{ only_cross_attention: true }, 'only_cross_attention', 'true'],
    [{ attention_type: 'gated' }, 'attention_type', '"gated"'],
    [{ act_fn: 'mish' }, 'act_fn', '"mish"'],
    [{ center_input_sample: true }, 'center_input_sample', 'true'],
    [{ down_block_types: down }, 'down_block_types[1]', '"SimpleCrossAttnDownBlock2D"'],
    [{ up_block_types: up }, 'up_block_types[2]', '"AttnUpBlock2D"'],
    [{ mid_block_type: 'UNetMidBlock2DSimpleCrossAttn' }, 'mid_block_type', '"UNetMidBlock2DSimpleCrossAttn"'],
    [{ transformer_layers_per_block: [[1, 2], [1], [1], [1]] }, 'transformer_layers_per_block'],
    [{ _class_name: 'UNet2DModel' }, '_class_name', '"UNet2DModel"'],
  ];
  for (const [patch, ...parts] of cases) {
    await assert.rejects(UNet.load(engine, { config: { ...tinyConfig(), ...patch }, weights: { random: 1 } }), refused('ERR_INDETAIL_UNSUPPORTED', ...parts));
  }
  // From a folder, the message names the config file.
  const dir = editedDir('class-embed', { class_embed_type: 'timestep' });
  await assert.rejects(UNet.load(engine, { dir }), refused('ERR_INDETAIL_UNSUPPORTED', path.join(dir, 'config.json'), 'class_embed_type'));
});

test('ControlNet configs: bgr conditioning and pooled conditions are refused by name', async () => {
  for (const [patch, field] of [
    [{ controlnet_conditioning_channel_order: 'bgr' }, 'controlnet_conditioning_channel_order'],
    [{ global_pool_conditions: true }, 'global_pool_conditions'],
    [{ class_embed_type: 'projection' }, 'class_embed_type'],
    [{ addition_embed_type: 'text_time', addition_time_embed_dim: 8, projection_class_embeddings_input_dim: 64 }, 'addition_embed_type'],
  ]) {
    await assert.rejects(
      ControlNet.load(engine, { config: { ...tinyControlNetConfig(), ...patch }, weights: { random: 1 } }),
      refused('ERR_INDETAIL_UNSUPPORTED', field),
    );
  }
});

test('inconsistent UNet configs are bad files naming the field', async () => {
  const cases = [
    [{ block_out_channels: [32, 48, 64, 64] }, 'block_out_channels[1]', 'norm_num_groups'],
    [{ attention_head_dim: 5 }, 'attention heads'],
    [{ up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D'] }, 'up_block_types'],
    [{ layers_per_block: [2, 2] }, 'layers_per_block'],
    [{ norm_eps: 'small' }, 'norm_eps'],
  ];
  for (const [patch, ...parts] of cases) {
    await assert.rejects(UNet.load(engine, { config: { ...tinyConfig(), ...patch }, weights: { random: 1 } }), refused('ERR_INDETAIL_BAD_FILE', ...parts));
  }
});

test('a checkpoint that does not match its config is refused naming the tensor', async () => {
  // cross_attention_dim 48: the cross-attention key projections of the file are [32, 32].
  const wide = editedDir('wide-context', { cross_attention_dim: 48 });
  await assert.rejects(
    UNet.load(engine, { dir: wide }),
    refused('ERR_INDETAIL_BAD_FILE', "'down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight'", '[32, 32]', '[32, 48]'),
  );
  // Three layers per block: the third resnet is not in the file.
  const deep = editedDir('deep', { layers_per_block: 3 });
  await assert.rejects(UNet.load(engine, { dir: deep }), refused('ERR_INDETAIL_BAD_FILE', "'down_blocks.0.resnets.2.norm1.weight' is missing"));
  // A ControlNet config against UNet weights: the conditioning embedding is missing.
  await assert.rejects(
    ControlNet.load(engine, {
      config: tinyControlNetConfig(),
      weights: { files: [{ file: await openSafetensors(path.join(unetDir, 'diffusion_pytorch_model.safetensors')) }] },
    }),
    refused('ERR_INDETAIL_BAD_FILE', 'controlnet_cond_embedding.conv_in.weight'),
  );
});

test('use_linear_projection: a checkpoint with linear proj_in/proj_out gives the 1x1-conv result', async () => {
  // Rewrite the tiny checkpoint's header: proj_in/proj_out weights [C, C, 1, 1] -> [C, C] (same bytes).
  const src = readFileSync(path.join(unetDir, 'diffusion_pytorch_model.safetensors'));
  const n = Number(src.readBigUInt64LE(0));
  const header = JSON.parse(src.subarray(8, 8 + n).toString('utf8'));
  let changed = 0;
  for (const [name, e] of Object.entries(header)) {
    if (/\.proj_(in|out)\.weight$/.test(name)) {
      assert.equal(e.shape.length, 4);
      e.shape = e.shape.slice(0, 2);
      changed++;
    }
  }
  assert.equal(changed, 32, '16 transformers with proj_in and proj_out');
  let h = Buffer.from(JSON.stringify(header));
  h = Buffer.concat([h, Buffer.alloc((8 - (h.length % 8)) % 8, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  const file = path.join(tmp, 'linear-proj.safetensors');
  writeFileSync(file, Buffer.concat([len, h, src.subarray(8 + n)]));
  const linear = await UNet.load(engine, { dir: editedDir('linear-proj', { use_linear_projection: true }, file) });
  assert.equal(linear.config.use_linear_projection, true);

  const sample = tensor([2, 8, 8, 4], 1);
  const context = tensor([2, 7, 32], 2);
  const a = read(await (await tiny()).forward({ sample, context, timesteps: 500 }));
  const b = read(await linear.forward({ sample, context, timesteps: 500 }));
  assert.ok(maxAbsDiff(a, b) <= 1e-6, `max diff ${maxAbsDiff(a, b)}`);
  linear.dispose();

  // Random weights with linear projections build and run too.
  const random = await UNet.load(engine, { config: { ...tinyConfig(), use_linear_projection: true }, weights: { random: 3 } });
  const out = await random.forward({ sample, context, timesteps: [10, 900] });
  assert.deepEqual(out.shape, [2, 8, 8, 4]);
  assert.ok(read(out).every(Number.isFinite));
  random.dispose();
});

test('timesteps are per frame: a batch equals its frames run one by one', async () => {
  const unet = await tiny();
  const sample = tensor([2, 8, 8, 4], 11);
  const context = tensor([2, 5, 32], 12);
  const batch = read(await unet.forward({ sample, context, timesteps: [981, 1] }));
  const s = read(sample);
  const c = read(context);
  for (const [f, t] of [[0, 981], [1, 1]]) {
    const one = read(
      await unet.forward({
        sample: engine.tensor(frame(s, [2, 8, 8, 4], f).slice(), [1, 8, 8, 4]),
        context: engine.tensor(frame(c, [2, 5, 32], f).slice(), [1, 5, 32]),
        timesteps: t,
      }),
    );
    assert.ok(maxAbsDiff(frame(batch, [2, 8, 8, 4], f), one) <= 1e-5, `frame ${f}: ${maxAbsDiff(frame(batch, [2, 8, 8, 4], f), one)}`);
  }
  // A scalar timestep is broadcast; different timesteps give different outputs.
  const same = read(await unet.forward({ sample, context, timesteps: 981 }));
  const list = read(await unet.forward({ sample, context, timesteps: [981, 981] }));
  assert.deepEqual(same, list);
  assert.ok(maxAbsDiff(frame(same, [2, 8, 8, 4], 1), frame(batch, [2, 8, 8, 4], 1)) > 1e-3);
});

test('attention policy: concat with a frame itself is plain attention; frames without a reference are untouched', async () => {
  const unet = await tiny();
  const shape = [3, 8, 8, 4];
  const sample = tensor(shape, 21);
  const context = tensor([3, 6, 32], 22);
  const args = { sample, context, timesteps: 301 };
  const plain = read(await unet.forward(args));
  const self = read(await unet.forward({ ...args, attention: { mode: 'concat', ref: [0, 1, 2] } }));
  assert.ok(maxAbsDiff(plain, self) <= 1e-5, `concat with itself: ${maxAbsDiff(plain, self)}`);
  const replaceSelf = read(await unet.forward({ ...args, attention: { mode: 'replace', ref: [0, 1, 2] } }));
  assert.ok(maxAbsDiff(plain, replaceSelf) <= 1e-5);
  const noRef = read(await unet.forward({ ...args, attention: { mode: 'stratified', lambdaRef: 0, ref: [-1, 0, 0] } }));
  assert.ok(maxAbsDiff(plain, noRef) <= 1e-5, 'stratified with lambdaRef 0 is plain attention');

  for (const mode of ['concat', 'stratified', 'replace']) {
    const out = read(await unet.forward({ ...args, attention: { mode, ref: [-1, 0, 0] } }));
    assert.ok(maxAbsDiff(frame(out, shape, 0), frame(plain, shape, 0)) <= 1e-6, `${mode}: frame 0 has no reference`);
    for (const f of [1, 2]) assert.ok(maxAbsDiff(frame(out, shape, f), frame(plain, shape, f)) > 1e-3, `${mode}: frame ${f} attends to frame 0`);
  }
});

test('attention policy reaches the decoder self-attention only', async () => {
  const shape = [2, 8, 8, 4];
  const sample = tensor(shape, 31);
  const context = tensor([2, 6, 32], 32);
  const policy = { mode: 'stratified', ref: [-1, 0], lambdaRef: 1, lambdaSelf: 1 };
  // Attention in the encoder and mid block only: the policy changes nothing.
  const encoderOnly = await UNet.load(engine, {
    config: { ...tinyConfig(), up_block_types: ['UpBlock2D', 'UpBlock2D', 'UpBlock2D', 'UpBlock2D'] },
    weights: { random: 5 },
  });
  const a = read(await encoderOnly.forward({ sample, context, timesteps: 400 }));
  const b = read(await encoderOnly.forward({ sample, context, timesteps: 400, attention: policy }));
  assert.deepEqual(a, b);
  encoderOnly.dispose();
  // Attention in the decoder only: it does.
  const decoderOnly = await UNet.load(engine, {
    config: { ...tinyConfig(), down_block_types: ['DownBlock2D', 'DownBlock2D', 'DownBlock2D', 'DownBlock2D'] },
    weights: { random: 5 },
  });
  const c = read(await decoderOnly.forward({ sample, context, timesteps: 400 }));
  const d = read(await decoderOnly.forward({ sample, context, timesteps: 400, attention: policy }));
  assert.ok(maxAbsDiff(frame(c, shape, 0), frame(d, shape, 0)) <= 1e-6);
  assert.ok(maxAbsDiff(frame(c, shape, 1), frame(d, shape, 1)) > 1e-3);
  decoderOnly.dispose();
});

test('ControlNet: one shared conditioning frame equals a repeated one; frameScale masks the control per frame', async () => {
  const unet = await tiny();
  const controlnet = await ControlNet.load(engine, { dir: controlnetDir });
  const shape = [2, 8, 8, 4];
  const sample = tensor(shape, 41);
  const context = tensor([2, 6, 32], 42);
  const condData = xorshiftNoise(64 * 64 * 3, 43).map((x) => (x + 1) / 2);
  const cond1 = engine.tensor(condData, [1, 64, 64, 3]);
  const cond2 = engine.tensor(Float32Array.from([...condData, ...condData]), [2, 64, 64, 3]);
  const args = { sample, context, timesteps: 501 };
  const r1 = await controlnet.forward({ ...args, cond: cond1 });
  const r2 = await controlnet.forward({ ...args, cond: cond2 });
  assert.equal(r1.down.length, unet.skipCount);
  for (let i = 0; i < r1.down.length; i++) assert.ok(maxAbsDiff(read(r1.down[i]), read(r2.down[i])) <= 1e-6);
  assert.ok(maxAbsDiff(read(r1.mid), read(r2.mid)) <= 1e-6);

  const half = await controlnet.forward({ ...args, cond: cond1, scale: 0.5 });
  assert.ok(maxAbsDiff(read(half.mid), read(r1.mid).map((x) => x / 2)) <= 1e-6, 'conditioning scale multiplies the residuals');

  const plain = read(await unet.forward(args));
  const full = read(await unet.forward({ ...args, control: r1 }));
  const masked = read(await unet.forward({ ...args, control: { ...r1, frameScale: [0, 1] } }));
  assert.ok(maxAbsDiff(frame(masked, shape, 0), frame(plain, shape, 0)) <= 1e-6, 'frame 0: control zeroed');
  assert.ok(maxAbsDiff(frame(masked, shape, 1), frame(full, shape, 1)) <= 1e-6, 'frame 1: full control');
  assert.ok(maxAbsDiff(frame(full, shape, 0), frame(plain, shape, 0)) > 1e-3, 'the control changes the output');
  const scaled = read(await unet.forward({ ...args, control: { ...r1, frameScale: [0.5, 0.5] } }));
  const viaScale = read(await unet.forward({ ...args, control: half }));
  assert.ok(maxAbsDiff(scaled, viaScale) <= 1e-5);

  await assert.rejects(controlnet.forward({ ...args, cond: engine.tensor(condData.subarray(0, 32 * 32 * 3), [1, 32, 32, 3]) }), refused('ERR_INDETAIL_INVALID_ARGUMENT', '8x the latent size'));
  await assert.rejects(unet.forward({ ...args, control: { down: r1.down.slice(1), mid: r1.mid } }), refused('ERR_INDETAIL_INVALID_ARGUMENT', 'control.down', '12'));
  controlnet.dispose();
  await assert.rejects(controlnet.forward({ ...args, cond: cond1 }), refused('ERR_INDETAIL_DISPOSED'));
});

test('UNet arguments are validated and a disposed UNet says so', async () => {
  const unet = await UNet.load(engine, { dir: unetDir });
  const sample = tensor([2, 8, 8, 4], 51);
  const context = tensor([2, 6, 32], 52);
  const args = { sample, context, timesteps: 1 };
  const invalid = (...parts) => refused('ERR_INDETAIL_INVALID_ARGUMENT', ...parts);
  await assert.rejects(unet.forward({ ...args, timesteps: [1, 2, 3] }), invalid('timesteps'));
  await assert.rejects(unet.forward({ ...args, attention: { mode: 'concat', ref: [0, 2] } }), invalid('attention.ref[1]'));
  await assert.rejects(unet.forward({ ...args, attention: { mode: 'mix', ref: [0, 0] } }), invalid('attention.mode'));
  await assert.rejects(unet.forward({ ...args, sample: tensor([2, 8, 8, 3], 53) }), invalid('sample', '[N, H, W, 4]'));
  await assert.rejects(unet.forward({ ...args, context: tensor([2, 6, 16], 54) }), invalid('cross_attention_dim'));
  const other = new Engine();
  await assert.rejects(unet.forward({ ...args, sample: other.tensor(new Float32Array(2 * 8 * 8 * 4), [2, 8, 8, 4]) }), invalid("model's engine"));
  // Added conditions are refused by a UNet without addition_embed_type.
  await assert.rejects(unet.forward({ ...args, added: { textEmbeds: tensor([2, 16], 55), timeIds: [8, 8, 0, 0, 8, 8] } }), invalid('added', 'addition_embed_type'));
  // The native inputs object takes declared keys only, at every level (the TypeScript layer builds it).
  const native = { sample: sample.native, context: context.native, timesteps: [1, 1] };
  await assert.rejects(async () => unet.native.forward({ ...native, attention: { mode: 'concat', ref: [0, 0], lamdaRef: 2 } }), /unet\.forward: unknown argument 'attention\.lamdaRef' \(accepted: mode, ref, lambdaRef, lambdaSelf\)/);
  await assert.rejects(async () => unet.native.forward({ ...native, timestep: [1, 1] }), /unet\.forward: unknown argument 'timestep'/);
  other.dispose();
  unet.dispose();
  assert.equal(unet.disposed, true);
  await assert.rejects(unet.forward(args), refused('ERR_INDETAIL_DISPOSED', 'UNet is disposed'));
});

// ~1 min on two cores (860M random weights, 3.4 GB); INDETAIL_FULL_SIZE=1 runs it.
test('full-size SD1.5 UNet builds from configs/sd15 with random weights', { skip: process.env.INDETAIL_FULL_SIZE !== '1' && 'set INDETAIL_FULL_SIZE=1 (builds 3.4 GB of random weights)' }, async () => {
  const e = new Engine();
  const config = JSON.parse(readFileSync(path.join(repoRoot, 'configs', 'sd15', 'unet', 'config.json'), 'utf8'));
  const unet = await UNet.load(e, { config, weights: { random: 7 } });
  // 859,520,964 parameters in F32; the CPU backend pads packed weight panels a little.
  const bytes = e.memoryStats().weights;
  assert.ok(bytes >= 859520964 * 4 && bytes < 859520964 * 4 * 1.001, `weights: ${bytes} bytes`);
  assert.equal(unet.skipCount, 12);
  assert.deepEqual(unet.config.num_attention_heads, [8, 8, 8, 8]);
  const out = await unet.forward({ sample: e.tensor(new Float32Array(8 * 8 * 4).fill(0.1), [1, 8, 8, 4]), context: e.tensor(new Float32Array(77 * 768).fill(0.01), [1, 77, 768]), timesteps: 500 });
  assert.deepEqual(out.shape, [1, 8, 8, 4]);
  assert.ok(out.readSync().every(Number.isFinite));
  unet.dispose();
  e.dispose();
});
