// The AutoencoderKL loader and wrapper: config checks, weight checks, input checks, tiling, lifetimes.
// Golden parity is in test/golden/kinds/vae_{encode,decode}.mjs.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { Engine, IndetailError, VAE, openSafetensors, parseVaeConfig, vaeTilePlan } from '../dist/index.js';
import { fixturePath, repoRoot } from './helpers/fixtures.mjs';

const tinyDir = fixturePath('tiny-sd15', 'vae');
const tinyConfig = JSON.parse(readFileSync(path.join(tinyDir, 'config.json'), 'utf8'));
const sd15Config = JSON.parse(readFileSync(path.join(repoRoot, 'configs', 'sd15', 'vae', 'config.json'), 'utf8'));

const engine = new Engine({ backend: 'cpu' });
const tiny = VAE.load(engine, { dir: tinyDir, tiling: { mode: 'never' } });

function refused(code, ...patterns) {
  return (err) => {
    assert.ok(err instanceof IndetailError, `expected an IndetailError, got ${err}`);
    assert.equal(err.code, code, err.message);
    for (const p of patterns) assert.match(err.message, p);
    return true;
  };
}

// Parameters of an AutoencoderKL by the diffusers architecture, counted independently of the engine.
function vaeParameters(cfg) {
  const ch = cfg.block_out_channels;
  const L = cfg.latent_channels;
  const conv = (i, o, k) => o * i * k * k + o;
  const gn = (c) => 2 * c;
  const res = (i, o) => gn(i) + conv(i, o, 3) + gn(o) + conv(o, o, 3) + (i !== o ? conv(i, o, 1) : 0);
  const mid = (c) => 2 * res(c, c) + gn(c) + 4 * (c * c + c);
  const last = ch[ch.length - 1];
  let n = conv(cfg.in_channels, ch[0], 3) + mid(last) + gn(last) + conv(last, 2 * L, 3) + conv(2 * L, 2 * L, 1);
  let out = ch[0];
  ch.forEach((c, i) => {
    for (let j = 0; j < cfg.layers_per_block; j++) n += res(j === 0 ? out : c, c);
    if (i < ch.length - 1) n += conv(c, c, 3);
    out = c;
  });
  n += conv(L, L, 1) + conv(L, last, 3) + mid(last) + gn(ch[0]) + conv(ch[0], cfg.out_channels, 3);
  const rev = [...ch].reverse();
  out = rev[0];
  rev.forEach((c, i) => {
    for (let j = 0; j <= cfg.layers_per_block; j++) n += res(j === 0 ? out : c, c);
    if (i < rev.length - 1) n += conv(c, c, 3);
    out = c;
  });
  return n;
}

test('the tiny VAE uses every weight of its file and reports its config', async () => {
  const vae = await tiny;
  assert.equal(vae.scalingFactor, 0.18215);
  assert.equal(vae.factor, 8);
  assert.deepEqual(vae.config.blockOutChannels, [32, 32, 64, 64]);
  assert.equal(vaeParameters(tinyConfig), 1399879, 'the fixture README states 1,399,879 parameters');
  const f = await openSafetensors(path.join(tinyDir, 'diffusion_pytorch_model.safetensors'));
  const inFile = f.entries().reduce((s, e) => s + e.shape.reduce((a, b) => a * b, 1), 0);
  f.close();
  assert.equal(inFile, 1399879);
  assert.deepEqual(vae.unusedWeights, []);
  // Prepared weights: at least every parameter in the file's F16 (the CPU keeps half-precision
  // convolution / linear weights half and widens them per tile; backends may pad their layouts).
  const e = new Engine();
  const v = await VAE.load(e, { dir: tinyDir });
  assert.ok(e.memoryStats().weights >= 2 * 1399879);
  v.dispose();
  e.dispose();
  // A config with fewer layers than the file leaves weights unused, and says which.
  const small = await VAE.load(engine, { config: { ...tinyConfig, layers_per_block: 1 }, weights: { files: [{ file: await openSafetensors(path.join(tinyDir, 'diffusion_pytorch_model.safetensors')) }] } });
  assert.ok(small.unusedWeights.includes('encoder.down_blocks.0.resnets.1.conv1.weight'));
  assert.ok(small.unusedWeights.includes('decoder.up_blocks.3.resnets.2.norm2.bias'));
  small.dispose();
});

test('unsupported config values are refused by name', async () => {
  const cases = [
    [{ act_fn: 'gelu' }, /act_fn = "gelu" is not supported/],
    [{ _class_name: 'VQModel' }, /_class_name = "VQModel" is not supported/],
    [{ down_block_types: ['DownEncoderBlock2D', 'AttnDownEncoderBlock2D', 'DownEncoderBlock2D', 'DownEncoderBlock2D'] }, /down_block_types\[1\] = "AttnDownEncoderBlock2D" is not supported/],
    [{ up_block_types: ['UpDecoderBlock2D'] }, /up_block_types lists 1 blocks but block_out_channels has 4 levels/],
    [{ mid_block_add_attention: false }, /mid_block_add_attention = false is not supported/],
    [{ norm_num_groups: 24 }, /norm_num_groups = 24 does not divide block_out_channels\[0\] = 32/],
    [{ use_quant_conv: false }, /use_quant_conv = false is not supported/],
    [{ shift_factor: 0.1159 }, /shift_factor = 0.1159 is not supported/],
    [{ latents_mean: [0, 0, 0, 0] }, /latents_mean = \[0,0,0,0\] is not supported/],
    [{ scaling_factor: -1 }, /scaling_factor = -1 must be positive/],
  ];
  for (const [patch, pattern] of cases) {
    await assert.rejects(
      VAE.load(engine, { config: { ...tinyConfig, ...patch }, weights: { random: 1 }, source: 'my/vae/config.json' }),
      refused('ERR_INDETAIL_UNSUPPORTED', /^my\/vae\/config\.json: /, pattern),
      JSON.stringify(patch),
    );
  }
  assert.throws(() => parseVaeConfig({ ...tinyConfig, layers_per_block: 'two' }), refused('ERR_INDETAIL_BAD_FILE', /'layers_per_block'/));
});

test('weights that do not match the config are refused naming the tensor', async () => {
  const weights = async () => ({ files: [{ file: await openSafetensors(path.join(tinyDir, 'diffusion_pytorch_model.safetensors')) }] });
  await assert.rejects(
    VAE.load(engine, { config: { ...tinyConfig, latent_channels: 8 }, weights: await weights() }),
    refused('ERR_INDETAIL_BAD_FILE', /weight 'encoder\.conv_out\.weight' has shape \[8, 64, 3, 3\] but the model config implies \[16, 64, 3, 3\]/),
  );
  await assert.rejects(
    VAE.load(engine, { config: { ...tinyConfig, block_out_channels: [32, 32, 64, 128] }, weights: await weights() }),
    refused('ERR_INDETAIL_BAD_FILE', /'encoder\.down_blocks\.3\.resnets\.0\.norm2\.weight' has shape \[64\] but the model config implies \[128\]/),
  );
  await assert.rejects(
    VAE.load(engine, { config: { ...tinyConfig, layers_per_block: 3 }, weights: await weights() }),
    refused('ERR_INDETAIL_BAD_FILE', /weight 'encoder\.down_blocks\.0\.resnets\.2\.norm1\.weight' is missing/),
  );
});

test('input shapes are checked with clear messages', async () => {
  const vae = await tiny;
  const bad = async (fn, ...patterns) => assert.rejects(fn, refused('ERR_INDETAIL_INVALID_ARGUMENT', ...patterns));
  await bad(vae.encode(engine.empty([1, 100, 128, 3])), /image height 100 and width 128 must be multiples of 8/);
  await bad(vae.encode(engine.empty([1, 64, 60, 3])), /image height 64 and width 60 must be multiples of 8/);
  await bad(vae.encode(engine.empty([1, 64, 64, 4])), /image has 4 channels .* this VAE expects 3 \(in_channels\)/);
  await bad(vae.encode(engine.empty([1, 3, 64, 64])), /image has 64 channels \(shape \[1, 3, 64, 64\]\).*NHWC/);
  await bad(vae.encode(engine.empty([64, 64, 3])), /Expected image of shape \[N, H, W, 3\] \(NHWC\) but received \[64, 64, 3\]/);
  await bad(vae.decode(engine.empty([1, 8, 8, 3])), /latents has 3 channels .* expects 4 \(latent_channels\)/);
  await bad(vae.decodeScaled(engine.empty([1, 4, 8, 8])), /latents has 8 channels/);
  await bad(vae.encode(engine.empty([1, 64, 64, 3]), { tiling: { mode: 'always', tileSize: 60 } }), /multiple of 8 for tiling\.tileSize/);
  await bad(vae.decode(engine.empty([1, 8, 8, 4]), { tiling: { overlap: 512 } }), /tiling\.overlap/);
  await bad(vae.decode(engine.empty([1, 8, 8, 4]), { tiling: { mode: 'sometimes' } }), /tiling\.mode/);
  const f = await openSafetensors(path.join(tinyDir, 'diffusion_pytorch_model.safetensors'));
  const host = f.tensor('post_quant_conv.bias');
  await assert.rejects(vae.decode(host), /Expected latents of shape/);
  f.close();
});

test('tensors of another engine or of a file are refused', async () => {
  const vae = await tiny;
  const other = new Engine();
  await assert.rejects(vae.decode(other.empty([1, 8, 8, 4])), /latents must be a tensor of the engine this VAE was loaded on/);
  other.dispose();
});

test('a disposed VAE or engine refuses work', async () => {
  const e = new Engine();
  const v = await VAE.load(e, { dir: tinyDir });
  const z = e.empty([1, 2, 2, 4]);
  v.dispose();
  assert.equal(v.disposed, true);
  await assert.rejects(v.decode(z), refused('ERR_INDETAIL_DISPOSED', /VAE is disposed/));
  const v2 = await VAE.load(e, { dir: tinyDir });
  e.dispose();
  await assert.rejects(v2.decode(z), refused('ERR_INDETAIL_DISPOSED', /Engine is disposed/));
  await assert.rejects(VAE.load(e, { dir: tinyDir }), refused('ERR_INDETAIL_DISPOSED', /Engine is disposed/));
});

test('the tile plan follows the pixel budget', () => {
  const t = { mode: 'auto', maxPixels: 512 * 768, tileSize: 512, overlap: 128, globalMidBlock: true };
  assert.equal(vaeTilePlan(512, 768, t), undefined);
  assert.deepEqual(vaeTilePlan(1024, 1024, t), { tileSize: 512, overlap: 128, globalMidBlock: true });
  assert.deepEqual(vaeTilePlan(64, 64, { ...t, mode: 'always' }), { tileSize: 512, overlap: 128, globalMidBlock: true });
  assert.equal(vaeTilePlan(4096, 4096, { ...t, mode: 'never' }), undefined);
});

test('the full-size SD1.5 VAE builds from configs/sd15 with random weights', async () => {
  const e = new Engine();
  const v = await VAE.load(e, { config: sd15Config, weights: { random: 7 } });
  assert.equal(v.factor, 8);
  assert.equal(vaeParameters(sd15Config), 83653863, 'SD1.5 AutoencoderKL parameter count');
  assert.ok(e.memoryStats().weights >= 4 * 83653863, `${e.memoryStats().weights} bytes of weights`);
  // A small image through the full-size graph (64×64 <-> 8×8 latents).
  const image = e.tensor(Float32Array.from({ length: 64 * 64 * 3 }, (_, i) => Math.sin(i * 0.1)), [1, 64, 64, 3]);
  const { mean, logvar } = await v.encode(image);
  assert.deepEqual(mean.shape, [1, 8, 8, 4]);
  assert.deepEqual(logvar.shape, [1, 8, 8, 4]);
  const lv = await logvar.readFloat32();
  assert.ok(lv.every((x) => x >= -30 && x <= 20), 'logvar is clamped to [-30, 20]');
  const decoded = await v.decode(mean);
  assert.deepEqual(decoded.shape, [1, 64, 64, 3]);
  assert.ok((await decoded.readFloat32()).every(Number.isFinite));
  v.dispose();
  e.dispose();
});
