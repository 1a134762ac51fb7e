// What the quality metrics cost, with full-size encoders of random weights (configs/clip-vit-large-patch14,
// configs/dino-vitb8: the published openai/clip-vit-large-patch14 and facebook/dino-vitb8 shapes):
//   - CLIP ViT-L/14 image embedding at 224x224, batch 1 and 4 (target: <= 1 s per image on the CPU);
//   - DINO ViT-B/8 keys of block 11 at 224x224 (785 tokens), and the keys plus their self-similarity;
//   - the scores of one evaluation unit (4 generated 512x512 images + the image prompt + the text:
//     CLIP-I, CLIP-T, DINO-G) against the generation of those 4 images (SD1.5, random weights,
//     512x512, 50 + 50 steps): metric time / generation time (target <= 5% on a GPU). The
//     generation row runs on CUDA only (minutes on a CPU); without a GPU the ratio is not measured.
// On every backend found. Seconds = wall time of the fastest run; CPU s = user + system time of
// the process meanwhile (the steadier figure on a shared machine). FLOPs: 2 per multiply-add of
// the convolutions, linears and attention matmuls as the engine runs them (a full ViT-L/14 forward
// at 224 is 162 GFLOP = 81 GMAC; the image embedding needs the last layer at the class token only: 156).
//
//   node bench/run.mjs quality-metrics [--quick] [--backend cpu|cuda]
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLIPModel, Engine, IndetailPipeline, QualityMetrics, ViTModel, backends as availableBackends, buildInfo } from '../../dist/index.js';
import { lcgNoise } from '../lib/random.mjs';

export const name = 'quality-metrics';
export const description = 'CLIP ViT-L/14 image embedding and DINO ViT-B/8 keys at 224x224 (random full-size weights), metric time vs generation time';
export const explicitOnly = true; // loads 430 M random parameters: run it by name

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const clipDir = path.join(root, 'configs', 'clip-vit-large-patch14');
const dinoDir = path.join(root, 'configs', 'dino-vitb8');
const tokenizerDir = path.join(root, 'configs', 'sd15', 'tokenizer');

// FLOPs of one pre-LN layer whose queries, output projection and MLP run on `queries` of the
// `tokens` tokens (keys and values on all).
function layerFlops(c, tokens, queries) {
  const C = c.hidden_size;
  return 2 * C * C * (2 * tokens + 2 * queries) + 4 * C * c.intermediate_size * queries + 4 * queries * tokens * C;
}

/** FLOPs of a ViT forward over `tokens` tokens through `layers` full layers (patch embedding included). */
export function vitFlops(c, tokens, layers) {
  const patches = tokens - 1;
  return 2 * patches * c.patch_size * c.patch_size * c.num_channels * c.hidden_size + layers * layerFlops(c, tokens, tokens);
}

/** FLOPs of CLIP's image embedding as the engine runs it: the last layer at the class token only. */
export function clipImageFlops(v, tokens) {
  return vitFlops(v, tokens, v.num_hidden_layers - 1) + layerFlops(v, tokens, 1) + 2 * v.hidden_size * v.projection_dim;
}

async function timeIt(fn, runs) {
  let best = { seconds: Infinity, cpu: 0 };
  for (let i = 0; i < runs; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await fn();
    const seconds = (performance.now() - t0) / 1000;
    const c = process.cpuUsage(c0);
    if (seconds < best.seconds) best = { seconds, cpu: (c.user + c.system) / 1e6 };
  }
  return best;
}

function picture(width, height, seed) {
  const noise = lcgNoise(width * height * 3, seed);
  return { data: Uint8Array.from(noise, (v) => Math.round((v + 1) * 127.5)), width, height };
}

async function encoderRows(backend, quick, log) {
  const rows = [];
  const engine = new Engine({ backend });
  const runs = quick ? 1 : 3;
  try {
    log(`${backend}: loading CLIP ViT-L/14 and DINO ViT-B/8 with random weights`);
    const clip = await CLIPModel.load(engine, clipDir, { weights: { random: 1 }, tokenizerDir });
    const dino = await ViTModel.load(engine, { dir: dinoDir, weights: { random: 2 } });
    const v = clip.vision.config;
    const clipTokens = 1 + (v.image_size / v.patch_size) ** 2;
    for (const batch of quick ? [1] : [1, 4]) {
      const pixels = engine.tensor(lcgNoise(batch * 224 * 224 * 3, 3), [batch, 224, 224, 3]);
      await (await clip.vision.imageEmbeds(pixels)).dispose(); // warm-up
      const t = await timeIt(async () => (await clip.vision.imageEmbeds(pixels)).dispose(), runs);
      const gflop = (batch * clipImageFlops(v, clipTokens)) / 1e9;
      rows.push({ backend, case: 'CLIP ViT-L/14 image embedding 224x224', batch, seconds: t.seconds, 's/image': t.seconds / batch, 'CPU s': t.cpu, GFLOP: gflop, 'GFLOP/s': gflop / t.seconds, 'GFLOP/CPU-s': gflop / t.cpu });
      pixels.dispose();
    }
    const d = dino.config;
    const dinoTokens = 1 + (224 / d.patch_size) ** 2;
    const pixels = engine.tensor(lcgNoise(224 * 224 * 3, 4), [1, 224, 224, 3]);
    const keysOnly = async () => (await dino.keys(pixels, [11])).forEach((k) => k.dispose());
    await keysOnly();
    let t = await timeIt(keysOnly, runs);
    const keysGflop = (vitFlops(d, dinoTokens, 11) + 2 * dinoTokens * d.hidden_size ** 2) / 1e9;
    rows.push({ backend, case: 'DINO ViT-B/8 keys of block 11, 224x224', batch: 1, seconds: t.seconds, 's/image': t.seconds, 'CPU s': t.cpu, GFLOP: keysGflop, 'GFLOP/s': keysGflop / t.seconds, 'GFLOP/CPU-s': keysGflop / t.cpu });
    t = await timeIt(async () => (await dino.selfSimilarity(pixels, 11)).dispose(), runs);
    const simGflop = keysGflop + (2 * dinoTokens * dinoTokens * d.hidden_size) / 1e9;
    rows.push({ backend, case: 'DINO keys + self-similarity (785x785)', batch: 1, seconds: t.seconds, 's/image': t.seconds, 'CPU s': t.cpu, GFLOP: simGflop, 'GFLOP/s': simGflop / t.seconds, 'GFLOP/CPU-s': simGflop / t.cpu });
    pixels.dispose();
    clip.dispose();
    dino.dispose();
  } finally {
    engine.dispose();
  }
  return rows;
}

// The scores of one evaluation unit, and (CUDA) the generation they score.
async function unitRows(backend, quick, log) {
  const rows = [];
  const images = Array.from({ length: 4 }, (_, i) => picture(512, 512, 10 + i));
  const imagePrompt = picture(512, 512, 9);
  const metrics = await QualityMetrics.load({ backend, clip: clipDir, dino: dinoDir, clipWeights: { random: 1 }, dinoWeights: { random: 2 }, clipTokenizerDir: tokenizerDir });
  let metricSeconds;
  try {
    const score = () => metrics.score({ images, imagePrompt, text: 'a photograph of a cat' });
    await score();
    const t = await timeIt(score, quick ? 1 : 2);
    metricSeconds = t.seconds;
    rows.push({ backend, case: 'scores of one unit: CLIP-I, CLIP-T, DINO-G of 4 images 512x512', batch: 4, seconds: t.seconds, 's/image': t.seconds / 4, 'CPU s': t.cpu });
  } finally {
    metrics.dispose();
  }
  if (backend !== 'cuda') return { rows, ratio: null };
  const steps = quick ? 10 : 50;
  log(`${backend}: generating 4 images 512x512, ${steps} + ${steps} steps (SD1.5, random weights)`);
  const pipe = await IndetailPipeline.load({ model: 'sd15', randomWeights: 1, backend: 'cuda', kvCache: false });
  try {
    const gen = () => pipe.variation({ image: imagePrompt, prompt: 'a photograph of a cat', steps, samples: 4, seed: 1, size: 512 });
    await gen();
    const t = await timeIt(gen, 1);
    rows.push({ backend, case: `generation of those 4 images (${steps} + ${steps} steps)`, batch: 4, seconds: t.seconds, 's/image': t.seconds / 4, 'CPU s': t.cpu, 'metric / generation': metricSeconds / t.seconds });
    return { rows, ratio: metricSeconds / t.seconds };
  } finally {
    pipe.dispose();
  }
}

export const columns = ['backend', 'case', 'batch', 'seconds', 's/image', 'CPU s', 'GFLOP', 'GFLOP/s', 'GFLOP/CPU-s', 'metric / generation'];

export async function run({ quick = false, backends = null, log = () => {} } = {}) {
  const found = availableBackends();
  const rows = [];
  const notes = [];
  for (const backend of backends ?? ['cpu', 'cuda']) {
    if (!found.includes(backend)) {
      notes.push(`${backend}: skipped (${backend === 'cuda' ? buildInfo().cudaUnavailableReason || 'not available' : 'not available'})`);
      continue;
    }
    rows.push(...(await encoderRows(backend, quick, log)));
    const unit = await unitRows(backend, quick, log);
    rows.push(...unit.rows);
    if (unit.ratio !== null) notes.push(`${backend}: metric time = ${(100 * unit.ratio).toFixed(1)}% of generation time (target <= 5%)`);
  }
  if (!found.includes('cuda')) notes.push('metric time vs generation time is measured on CUDA only: no GPU here, so it was not measured');
  const clip = rows.find((r) => r.backend === 'cpu' && r.batch === 1 && r.case.startsWith('CLIP'));
  if (clip) notes.push(`cpu: CLIP ViT-L/14 image embedding ${clip.seconds.toFixed(2)} s at batch 1 (target <= 1 s), ${clip['CPU s'].toFixed(2)} CPU s`);
  notes.push('seconds = wall time of the fastest run; CPU s = user + system time of the process meanwhile (steadier on a shared machine); FLOPs: 2 per multiply-add');
  return { rows, columns, notes };
}
