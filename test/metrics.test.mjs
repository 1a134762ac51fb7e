// The quality-metric models and API beyond the golden cases: batch consistency, key extraction
// against the self-similarity, the DINO input sizes, and every refusal (bad folders, pickles,
// mismatched configs, inputs of the wrong size, out-of-range blocks, incomparable maps), plus the
// prompt manifest's CSV reader.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import {
  CLIPModel,
  Engine,
  QualityMetrics,
  ViTModel,
  cosineSimilarity,
  dinoPreprocess,
  dinoResizeShape,
  dinoSelfSimilarityDistance,
  resizeBilinearTorch,
} from '../dist/index.js';
import { parseCsv } from '../dist/eval/manifest.js';
import { checkConfiguration } from '../dist/eval/configurations.js';
import { repoRoot } from './helpers/fixtures.mjs';
import { maxAbsDiff } from './helpers/compare.mjs';

const fixtures = path.join(repoRoot, 'test', 'fixtures-eval');
const clipDir = path.join(fixtures, 'tiny-clip-vit-l14');
const dinoDir = path.join(fixtures, 'tiny-dino-vitb8');
let engine, clip, dino, tmp;

before(async () => {
  engine = new Engine({ backend: 'cpu' });
  clip = await CLIPModel.load(engine, clipDir);
  dino = await ViTModel.load(engine, { dir: dinoDir });
  tmp = mkdtempSync(path.join(tmpdir(), 'indetail-metrics-'));
});
after(() => {
  clip?.dispose();
  dino?.dispose();
  engine?.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

function picture(width, height, seed) {
  const data = new Uint8Array(width * height * 3);
  let s = seed;
  for (let i = 0; i < data.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    data[i] = (s >>> 16) & 255;
  }
  return { data, width, height };
}

function refuses(code, pattern) {
  return (err) => {
    assert.equal(err.code, code, err.message);
    assert.match(err.message, pattern);
    return true;
  };
}

// A copy of a model folder with its config changed (and files left out).
function variant(from, name, edit = (c) => c, skip = []) {
  const to = path.join(tmp, name);
  mkdirSync(to, { recursive: true });
  for (const f of readdirSync(from)) if (!skip.includes(f)) copyFileSync(path.join(from, f), path.join(to, f));
  const cfg = JSON.parse(readFileSync(path.join(from, 'config.json'), 'utf8'));
  writeFileSync(path.join(to, 'config.json'), JSON.stringify(edit(cfg)));
  return to;
}

test('image embeddings do not depend on the batch', async () => {
  const pics = [picture(50, 40, 1), picture(224, 224, 2), picture(30, 90, 3)];
  const together = await clip.imageEmbeddings(pics);
  for (const [i, p] of pics.entries()) {
    const [alone] = await clip.imageEmbeddings([p]);
    assert.ok(maxAbsDiff(alone, together[i]) < 1e-6, `picture ${i}`);
  }
});

test('the self-similarity is the cosine of the extracted keys, CLS token included', async () => {
  const input = dinoPreprocess(picture(72, 56, 4));
  const pixels = engine.tensor(input.pixels, [1, input.height, input.width, 3]);
  const [keys] = await dino.keys(pixels, [5]);
  const sim = await dino.selfSimilarity(pixels, 5);
  const [, T, C] = keys.shape;
  assert.equal(T, 1 + Math.floor(input.height / 8) * Math.floor(input.width / 8));
  const k = await keys.readFloat32();
  const s = await sim.readFloat32();
  let worst = 0;
  for (const [i, j] of [[0, 0], [0, 7], [3, T - 1], [T - 1, 11]]) {
    const a = k.subarray(i * C, (i + 1) * C);
    const b = k.subarray(j * C, (j + 1) * C);
    worst = Math.max(worst, Math.abs(s[i * T + j] - cosineSimilarity(a, b)));
  }
  assert.ok(worst < 1e-5, `max difference ${worst}`);
  for (const t of [pixels, keys, sim]) t.dispose();
});

test('the DINO resize keeps the aspect ratio, caps the long side at 480, and is the identity at 224', () => {
  assert.deepEqual(dinoResizeShape(96, 96), [224, 224]);
  assert.deepEqual(dinoResizeShape(150, 200), [224, 298]);
  assert.deepEqual(dinoResizeShape(100, 400), [120, 480], 'the long side capped, the short one scaled with it');
  const img = picture(13, 11, 5);
  const unit = Float32Array.from(img.data, (v) => v / 255);
  assert.deepEqual(resizeBilinearTorch(unit, 11, 13, 11, 13), unit);
});

test('DINO-C of pictures of different sizes is refused', async () => {
  const m = await QualityMetrics.load({ engine, dino: dinoDir });
  try {
    await assert.rejects(m.dinoScores({ images: [picture(64, 64, 1)], condition: picture(64, 96, 2) }), refuses('ERR_INDETAIL_INVALID_ARGUMENT', /same size/));
  } finally {
    m.dispose();
  }
  assert.throws(() => dinoSelfSimilarityDistance({ tokens: 2, data: new Float32Array(4) }, { tokens: 3, data: new Float32Array(9) }), /same size/);
});

test('blocks, inputs and options out of range are refused naming them', async () => {
  const pixels = engine.tensor(new Float32Array(16 * 16 * 3), [1, 16, 16, 3]);
  await assert.rejects(dino.keys(pixels, [12]), refuses('ERR_INDETAIL_INVALID_ARGUMENT', /between 0 and 11 for layers\[0\]/));
  await assert.rejects(dino.selfSimilarity(pixels, -1), refuses('ERR_INDETAIL_INVALID_ARGUMENT', /layer/));
  const small = engine.tensor(new Float32Array(4 * 4 * 3), [1, 4, 4, 3]);
  await assert.rejects(dino.keys(small, [0]), refuses('ERR_INDETAIL_INVALID_ARGUMENT', /smaller than one 8x8 patch/));
  await assert.rejects(clip.vision.imageEmbeds(pixels), refuses('ERR_INDETAIL_INVALID_ARGUMENT', /16x16 pixels but this model takes 224x224/));
  const other = new Engine({ backend: 'cpu' });
  const foreign = other.tensor(new Float32Array(16 * 16 * 3), [1, 16, 16, 3]);
  await assert.rejects(dino.keys(foreign, [0]), /engine/);
  for (const t of [pixels, small, foreign]) t.dispose();
  other.dispose();
  await assert.rejects(QualityMetrics.load({ engine, dino: dinoDir, dinoLayer: 12 }), refuses('ERR_INDETAIL_INVALID_ARGUMENT', /between 0 and 11 for dinoLayer/));
  await assert.rejects(QualityMetrics.load({}), refuses('ERR_INDETAIL_INVALID_ARGUMENT', /clip.*dino/));
  const m = await QualityMetrics.load({ engine, dino: dinoDir });
  await assert.rejects(m.clipScores({ images: [picture(8, 8, 1)], text: 'x' }), refuses('ERR_INDETAIL_INVALID_ARGUMENT', /CLIP model: load QualityMetrics with \{ clip \}/));
  m.dispose();
});

test('bad model folders are refused before anything runs: pickles, configs, checkpoints that do not fit', async () => {
  const pickled = variant(dinoDir, 'dino-pickle', (c) => c, ['model.safetensors']);
  writeFileSync(path.join(pickled, 'pytorch_model.bin'), 'never unpickled');
  await assert.rejects(ViTModel.load(engine, { dir: pickled }), refuses('ERR_INDETAIL_UNSUPPORTED', /pytorch_model\.bin is a pickle checkpoint.*save_pretrained\(out, safe_serialization=True\)/));
  await assert.rejects(
    ViTModel.load(engine, { dir: variant(dinoDir, 'dino-relu', (c) => ({ ...c, hidden_act: 'relu' })) }),
    refuses('ERR_INDETAIL_UNSUPPORTED', /hidden_act = "relu" is not supported/),
  );
  await assert.rejects(
    ViTModel.load(engine, { dir: variant(dinoDir, 'dino-fewer', (c) => ({ ...c, num_hidden_layers: 11 })) }),
    refuses('ERR_INDETAIL_BAD_FILE', /encoder\.layer\.11\..*does not use \(num_hidden_layers = 11\)/),
  );
  await assert.rejects(
    ViTModel.load(engine, { dir: variant(dinoDir, 'dino-wide', (c) => ({ ...c, hidden_size: 64 })) }),
    refuses('ERR_INDETAIL_BAD_FILE', /has shape .* but the model config implies/),
  );
  await assert.rejects(
    CLIPModel.load(engine, variant(clipDir, 'clip-proj', (c) => ({ ...c, projection_dim: 16 }))),
    refuses('ERR_INDETAIL_BAD_FILE', /text_projection\.weight' has shape \[24, 32\] but the model config implies \[16, 32\]/),
  );
  await assert.rejects(
    CLIPModel.load(engine, variant(clipDir, 'clip-vision-layers', (c) => ({ ...c, vision_config: { ...c.vision_config, num_hidden_layers: 2 } }))),
    refuses('ERR_INDETAIL_BAD_FILE', /vision_model\.encoder\.layers\.2\..*does not use/),
  );
  const noProcessor = variant(clipDir, 'clip-noproc', (c) => c, ['preprocessor_config.json']);
  await assert.rejects(CLIPModel.load(engine, noProcessor), refuses('ERR_INDETAIL_IO', /preprocessor_config\.json/));
  const resample = variant(clipDir, 'clip-resample');
  writeFileSync(path.join(resample, 'preprocessor_config.json'), JSON.stringify({ ...JSON.parse(readFileSync(path.join(clipDir, 'preprocessor_config.json'), 'utf8')), resample: 2 }));
  await assert.rejects(CLIPModel.load(engine, resample), refuses('ERR_INDETAIL_UNSUPPORTED', /resample = 2 is not supported/));
});

test('the CSV reader follows RFC 4180 quoting', () => {
  const rows = parseCsv('id,text\r\na,"an owl, at night"\nb,"say ""hi""\nthen"\n\n', 'x.csv');
  assert.deepEqual(rows, [['id', 'text'], ['a', 'an owl, at night'], ['b', 'say "hi"\nthen']]);
  assert.throws(() => parseCsv('a,"open', 'x.csv'), /not closed/);
});

test('configurations are checked with the pipeline\'s own rules and named by what differs', () => {
  assert.equal(checkConfiguration({}, 'c').name, 'stratified');
  assert.equal(checkConfiguration({ attention: 'concat', lambdaImage: 0.5, guidanceMode: 'conflicting', steps: 20 }, 'c').name, 'concat-lp0.5-lg1-conflicting-s20');
  assert.equal(checkConfiguration({}, 'c').samples, 4, 'four samples per image prompt, as the paper');
  assert.throws(() => checkConfiguration({ lambdaImage: -1 }, 'configuration 2'), /configuration 2: .*lambdaImage/);
  assert.throws(() => checkConfiguration({ attention: 'sideways' }, 'c'), /attention/);
  assert.throws(() => checkConfiguration({ seeds: [1, 1] }, 'c'), /repeat/);
  assert.throws(() => checkConfiguration({ colour: 'red' }, 'c'), /unknown field 'colour'/);
});

test('a disposed metric model says so, and refuses calls by name', async () => {
  const own = await ViTModel.load(engine, { dir: dinoDir });
  const input = dinoPreprocess(picture(24, 24, 5));
  const pixels = engine.tensor(input.pixels, [1, input.height, input.width, 3]);
  assert.equal(own.disposed, false);
  const [k] = await own.keys(pixels, [0]);
  k.dispose();
  own.dispose();
  assert.equal(own.disposed, true);
  await assert.rejects(own.keys(pixels, [0]), /VitModel is disposed/);
  await assert.rejects(own.selfSimilarity(pixels, 0), /VitModel is disposed/);
  pixels.dispose();
});
