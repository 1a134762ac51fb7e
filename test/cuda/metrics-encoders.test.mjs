// CUDA parity of the quality-metric encoders: the CLIP vision tower (patch convolution with
// stride 14, class token, pre-LN layers, projection), the CLIP text tower with its projection,
// the DINO ViT keys (stride-8 convolution, interpolated position embeddings on a non-square
// input) and the self-similarity, and the scores built on them, against the CPU backend
// (fp16 storage with fp32 accumulation vs fp32). Pictures come from the fixtures' u8 tensors.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { CLIPModel, Engine, QualityMetrics, ViTModel, dinoPreprocess, openSafetensors } from '../../dist/index.js';
import { cudaSkipReason } from '../helpers/backends.mjs';
import { repoRoot } from '../helpers/fixtures.mjs';

const skip = cudaSkipReason();
if (skip) console.log(skip);

const fixtures = path.join(repoRoot, 'test', 'fixtures-eval');
const clipDir = path.join(fixtures, 'tiny-clip-vit-l14');
const dinoDir = path.join(fixtures, 'tiny-dino-vitb8');
const engines = {};
const models = {};
let pictures;

async function u8(file, name) {
  const g = await openSafetensors(path.join(fixtures, 'golden', file));
  const t = g.tensor(name);
  const [height, width] = t.shape;
  const img = { data: Uint8Array.from(t.readSync()), width, height };
  g.close();
  return img;
}

before(async () => {
  if (skip) return;
  pictures = [
    await u8('dino_keys.safetensors', 'dino_landscape_200x150_u8'),
    await u8('clip_preprocess.safetensors', 'pre_portrait_120x250_u8'),
    await u8('metric_clip_imgvar_cat.safetensors', 'prompt_image_u8'),
  ];
  for (const b of ['cpu', 'cuda']) {
    engines[b] = new Engine({ backend: b });
    models[b] = { clip: await CLIPModel.load(engines[b], clipDir), dino: await ViTModel.load(engines[b], { dir: dinoDir }) };
  }
});
after(() => {
  for (const b of Object.keys(models)) {
    models[b].clip.dispose();
    models[b].dino.dispose();
    engines[b].dispose();
  }
});

// max |a - b| relative to max |b|
function relError(a, b) {
  let d = 0;
  let m = 0;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return d / Math.max(m, 1e-12);
}

const flat = (rows) => Float32Array.from(rows.flatMap((r) => Array.from(r)));

test('CLIP image and text embeddings: CUDA matches the CPU', { skip: skip ?? false }, async (t) => {
  const img = relError(flat(await models.cuda.clip.imageEmbeddings(pictures)), flat(await models.cpu.clip.imageEmbeddings(pictures)));
  const texts = ['a photograph of a cat', 'an owl, best quality, extremely detailed.', ''];
  const txt = relError(flat(await models.cuda.clip.textEmbeddings(texts)), flat(await models.cpu.clip.textEmbeddings(texts)));
  t.diagnostic(`image embeds rel error ${img.toExponential(2)}, text embeds ${txt.toExponential(2)}`);
  assert.ok(img < 2e-2 && txt < 2e-2);
});

test('DINO keys of every block and the self-similarity on a non-square input: CUDA matches the CPU', { skip: skip ?? false }, async (t) => {
  const input = dinoPreprocess(pictures[0]);
  const layers = Array.from({ length: 12 }, (_, i) => i);
  const out = {};
  for (const b of ['cpu', 'cuda']) {
    const pixels = engines[b].tensor(input.pixels, [1, input.height, input.width, 3]);
    const keys = await models[b].dino.keys(pixels, layers);
    const sim = await models[b].dino.selfSimilarity(pixels, 11);
    out[b] = { keys: await Promise.all(keys.map((k) => k.readFloat32())), sim: await sim.readFloat32() };
    for (const x of [pixels, sim, ...keys]) x.dispose();
  }
  const keyErrors = layers.map((l) => relError(out.cuda.keys[l], out.cpu.keys[l]));
  const simError = relError(out.cuda.sim, out.cpu.sim);
  t.diagnostic(`keys rel error per block ${keyErrors.map((e) => e.toExponential(1)).join(' ')}, self-similarity ${simError.toExponential(2)}`);
  assert.ok(keyErrors.every((e) => e < 3e-2) && simError < 2e-2);
});

test('CLIP-I, CLIP-T, DINO-G and DINO-C on CUDA are the CPU\'s within 1e-2', { skip: skip ?? false }, async (t) => {
  const scores = {};
  for (const b of ['cpu', 'cuda']) {
    const m = await QualityMetrics.load({ engine: engines[b], clip: clipDir, dino: dinoDir });
    const images = [await u8('metric_dino_c_stguide_depth.safetensors', 'generated_u8_0'), await u8('metric_dino_c_stguide_depth.safetensors', 'generated_u8_1')];
    scores[b] = await m.score({ images, imagePrompt: pictures[2], text: 'a penguin', condition: await u8('metric_dino_c_stguide_depth.safetensors', 'condition_u8') });
    m.dispose();
  }
  for (const k of ['clipI', 'clipT', 'dinoG', 'dinoC']) {
    t.diagnostic(`${k}: cpu ${scores.cpu[k]}, cuda ${scores.cuda[k]}`);
    assert.ok(Math.abs(scores.cuda[k] - scores.cpu[k]) < 1e-2 * Math.max(1, Math.abs(scores.cpu[k])), k);
  }
});
