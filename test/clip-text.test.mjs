// The CLIP text encoder beyond the golden case: config and checkpoint validation, id checks,
// batch consistency, causality, lifecycle, and the full-size SD1.5 configuration.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Engine, IndetailError, CLIPTextEncoder, openSafetensors, parseClipTextConfig } from '../dist/index.js';
import { fixturePath, repoRoot } from './helpers/fixtures.mjs';
import { assertClose, maxAbsDiff } from './helpers/compare.mjs';
import { writeRawSafetensors } from './helpers/safetensors-js.mjs';

const tinyDir = fixturePath('tiny-sd15', 'text_encoder');
const tinyConfig = JSON.parse(readFileSync(path.join(tinyDir, 'config.json'), 'utf8'));
const sd15Config = JSON.parse(readFileSync(path.join(repoRoot, 'configs', 'sd15', 'text_encoder', 'config.json'), 'utf8'));

let engine;
let encoder;
let goldenIds; // 4 prompts x 77 ids from the golden file
let tmp;

before(async () => {
  engine = new Engine({ backend: 'cpu' });
  encoder = await CLIPTextEncoder.load(engine, { dir: tinyDir });
  const g = await openSafetensors(fixturePath('golden', 'text_encoder.safetensors'));
  goldenIds = Int32Array.from(g.tensor('input_ids').readSync());
  g.close();
  tmp = mkdtempSync(path.join(tmpdir(), 'indetail-clip-'));
});

after(() => {
  encoder?.dispose();
  engine?.dispose();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const row = (i) => goldenIds.subarray(i * 77, (i + 1) * 77);

function refuses(code, pattern) {
  return (err) => {
    assert.ok(err instanceof IndetailError, `expected an IndetailError, got ${err}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, pattern);
    return true;
  };
}

test('the config is normalised with transformers defaults and both SD configs parse', () => {
  const tiny = parseClipTextConfig(tinyConfig);
  assert.deepEqual(tiny, {
    hidden_size: 32,
    intermediate_size: 64,
    num_attention_heads: 4,
    num_hidden_layers: 3,
    max_position_embeddings: 77,
    vocab_size: 49408,
    layer_norm_eps: 1e-5,
    hidden_act: 'quick_gelu',
    eos_token_id: 2,
    projection_dim: 0,
  });
  assert.equal(parseClipTextConfig(sd15Config).hidden_size, 768);
  assert.equal(parseClipTextConfig(sd15Config).projection_dim, 0, 'CLIPTextModel: its projection_dim is not a projection');
  assert.equal(parseClipTextConfig({ ...tinyConfig, architectures: ['CLIPTextModelWithProjection'], projection_dim: 24 }).projection_dim, 24);
  assert.equal(parseClipTextConfig({}).num_hidden_layers, 12, 'absent fields take CLIPTextConfig defaults');
  assert.equal(parseClipTextConfig({ ...tinyConfig, hidden_act: 'gelu' }).hidden_act, 'gelu');
});

test('unsupported or invalid config values are refused naming the field', async () => {
  const cases = [
    [{ hidden_act: 'relu' }, 'ERR_INDETAIL_UNSUPPORTED', /hidden_act = "relu" is not supported \(supported: "quick_gelu", "gelu"\)/],
    [{ hidden_act: 'gelu_new' }, 'ERR_INDETAIL_UNSUPPORTED', /hidden_act/],
    [{ model_type: 'clip_vision_model' }, 'ERR_INDETAIL_UNSUPPORTED', /model_type/],
    [{ architectures: ['CLIPVisionModel'] }, 'ERR_INDETAIL_UNSUPPORTED', /architectures "CLIPVisionModel"/],
    [{ hidden_size: 0 }, 'ERR_INDETAIL_BAD_FILE', /'hidden_size'/],
    [{ hidden_size: 32.5 }, 'ERR_INDETAIL_BAD_FILE', /'hidden_size'/],
    [{ num_hidden_layers: '3' }, 'ERR_INDETAIL_BAD_FILE', /'num_hidden_layers'/],
    [{ intermediate_size: -64 }, 'ERR_INDETAIL_BAD_FILE', /'intermediate_size'/],
    [{ num_attention_heads: 5 }, 'ERR_INDETAIL_BAD_FILE', /num_attention_heads = 5 does not divide hidden_size = 32/],
    [{ layer_norm_eps: 0 }, 'ERR_INDETAIL_BAD_FILE', /layer_norm_eps must be positive/],
    [{ vocab_size: null, max_position_embeddings: 'x' }, 'ERR_INDETAIL_BAD_FILE', /'max_position_embeddings'/],
  ];
  for (const [change, code, pattern] of cases) {
    const config = { ...tinyConfig, ...change };
    assert.throws(() => parseClipTextConfig(config, 'my/config.json'), refuses(code, pattern), JSON.stringify(change));
    await assert.rejects(CLIPTextEncoder.load(engine, { config, weights: { random: 1 }, configSource: 'my/config.json' }), refuses(code, /^my\/config\.json: /));
  }
});

test('a checkpoint whose tensors do not fit the config is refused naming the tensor', async () => {
  const weights = { files: [{ file: await openSafetensors(path.join(tinyDir, 'model.safetensors')) }] };
  await assert.rejects(
    CLIPTextEncoder.load(engine, { config: { ...tinyConfig, intermediate_size: 48 }, weights }),
    refuses('ERR_INDETAIL_BAD_FILE', /weight 'text_model\.encoder\.layers\.0\.mlp\.fc1\.weight' has shape \[64, 32\] but the model config implies \[48, 32\]/),
  );
  await assert.rejects(
    CLIPTextEncoder.load(engine, { config: { ...tinyConfig, num_hidden_layers: 2 }, weights }),
    refuses('ERR_INDETAIL_BAD_FILE', /holds weight 'text_model\.encoder\.layers\.2\.[a-z_0-9.]+' that the config does not use/),
  );
  await assert.rejects(
    CLIPTextEncoder.load(engine, { config: { ...tinyConfig, num_hidden_layers: 4 }, weights }),
    refuses('ERR_INDETAIL_BAD_FILE', /weight 'text_model\.encoder\.layers\.3\.[a-z_0-9.]+' is missing/),
  );
});

test('a checkpoint with a wrongly shaped tensor is refused naming it', async () => {
  // The fixture checkpoint with the q_proj weight of layer 1 declared [16, 64] instead of [32, 32]
  // (same byte size, so the file itself stays valid).
  const buf = readFileSync(path.join(tinyDir, 'model.safetensors'));
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  const name = 'text_model.encoder.layers.1.self_attn.q_proj.weight';
  assert.deepEqual(header[name].shape, [32, 32]);
  header[name].shape = [16, 64];
  const file = path.join(tmp, 'model.safetensors');
  writeRawSafetensors(file, header, buf.subarray(8 + n));
  writeFileSync(path.join(tmp, 'config.json'), JSON.stringify(tinyConfig));
  await assert.rejects(
    CLIPTextEncoder.load(engine, { dir: tmp }),
    refuses('ERR_INDETAIL_BAD_FILE', /weight 'text_model\.encoder\.layers\.1\.self_attn\.q_proj\.weight' has shape \[16, 64\] but the model config implies \[32, 32\]/),
  );
});

test('ids outside the vocabulary or of a bad length are refused with a clear error', async () => {
  const bad = Int32Array.from(row(0));
  bad[5] = 49408;
  await assert.rejects(encoder.encode(bad, 1), refuses('ERR_INDETAIL_INVALID_ARGUMENT', /0 to 49407 but ids\[5\] \(row 0, position 5\) is 49408/));
  bad[5] = -1;
  await assert.rejects(encoder.encode(bad, 1), refuses('ERR_INDETAIL_INVALID_ARGUMENT', /is -1/));
  // The native check holds on its own too (no crash when the TypeScript layer is bypassed).
  bad[5] = 1 << 30;
  await assert.rejects(encoder.native.encode(bad, 1, false), (err) => {
    assert.equal(err.code, 'ERR_INDETAIL_INVALID_ARGUMENT');
    assert.match(err.message, /token id 1073741824 at \[0, 5\] is outside the vocabulary \(0 to 49407\)/);
    return true;
  });
  await assert.rejects(encoder.native.encode(new Int32Array(78), 1, false), /sequences of 78 tokens are not supported/);
  await assert.rejects(encoder.encode(new Int32Array(78), 1), refuses('ERR_INDETAIL_INVALID_ARGUMENT', /length 1 to 77/));
  await assert.rejects(encoder.encode(new Int32Array(77), 2), refuses('ERR_INDETAIL_INVALID_ARGUMENT', /batch 2 but received 77 ids/));
  await assert.rejects(encoder.encode(new Int32Array(77), 0), refuses('ERR_INDETAIL_INVALID_ARGUMENT', /positive integer for batch/));
  await assert.rejects(encoder.encode([1, 2, 3], 1), refuses('ERR_INDETAIL_INVALID_ARGUMENT', /Int32Array for ids but received Array/));
});

test('row i of a batch equals the same prompt encoded alone', async () => {
  const batch = await encoder.encode(goldenIds, 4, { pooled: true });
  assert.deepEqual(batch.lastHiddenState.shape, [4, 77, 32]);
  assert.deepEqual(batch.pooled.shape, [4, 32]);
  const all = await batch.lastHiddenState.readFloat32();
  const pooledAll = await batch.pooled.readFloat32();
  for (let i = 0; i < 4; i++) {
    const one = await encoder.encode(Int32Array.from(row(i)), 1, { pooled: true });
    assertClose(await one.lastHiddenState.readFloat32(), all.subarray(i * 77 * 32, (i + 1) * 77 * 32), { atol: 1e-6 }, `row ${i}`);
    assertClose(await one.pooled.readFloat32(), pooledAll.subarray(i * 32, (i + 1) * 32), { atol: 1e-6 }, `pooled row ${i}`);
  }
  // Pooling takes the hidden state at the first eos (the argmax id; padding is eos too).
  for (let i = 0; i < 4; i++) {
    const ids = Array.from(row(i));
    const eos = ids.indexOf(Math.max(...ids));
    assert.deepEqual(pooledAll.subarray(i * 32, (i + 1) * 32), all.subarray((i * 77 + eos) * 32, (i * 77 + eos + 1) * 32));
  }
  const plain = await encoder.encode(goldenIds, 4);
  assert.equal(plain.pooled, undefined, 'pooled only when asked for');
});

test('attention is causal: a token changes no hidden state before it; shorter sequences work', async () => {
  const ids = Int32Array.from(row(0));
  const changed = Int32Array.from(ids);
  changed[20] = 1000;
  const a = await (await encoder.encode(ids, 1)).lastHiddenState.readFloat32();
  const b = await (await encoder.encode(changed, 1)).lastHiddenState.readFloat32();
  assert.equal(maxAbsDiff(a.subarray(0, 20 * 32), b.subarray(0, 20 * 32)), 0);
  assert.ok(maxAbsDiff(a.subarray(20 * 32, 21 * 32), b.subarray(20 * 32, 21 * 32)) > 1e-3);
  // A prefix of 12 tokens gives the prefix of the hidden states (positions only look back).
  const short = await encoder.encode(ids.slice(0, 12), 1);
  assert.deepEqual(short.lastHiddenState.shape, [1, 12, 32]);
  assertClose(await short.lastHiddenState.readFloat32(), a.subarray(0, 12 * 32), { atol: 1e-6 }, 'prefix');
});

test('the text encoder of a single-file checkpoint (key prefix) equals the diffusers folder', async () => {
  const file = await openSafetensors(fixturePath('tiny-sd15.safetensors'));
  const single = await CLIPTextEncoder.load(engine, {
    config: tinyConfig,
    weights: { files: [{ file, prefix: 'cond_stage_model.transformer.' }] },
  });
  const a = await (await single.encode(goldenIds, 4)).lastHiddenState.readFloat32();
  const b = await (await encoder.encode(goldenIds, 4)).lastHiddenState.readFloat32();
  assert.equal(maxAbsDiff(a, b), 0);
  single.dispose();
  file.close();
});

test('a disposed encoder refuses work', async () => {
  const e = await CLIPTextEncoder.load(engine, { dir: tinyDir });
  e.dispose();
  assert.equal(e.disposed, true);
  await assert.rejects(e.encode(row(0).slice(), 1), refuses('ERR_INDETAIL_DISPOSED', /ClipTextModel is disposed/));
  const gone = new Engine();
  gone.dispose();
  await assert.rejects(CLIPTextEncoder.load(gone, { dir: tinyDir }), /Engine is disposed/);
});

test('the full-size SD1.5 text encoder builds from its config with random weights', async () => {
  const big = new Engine({ backend: 'cpu' });
  try {
    const before = big.memoryStats().weights;
    const enc = await CLIPTextEncoder.load(big, { config: sd15Config, weights: { random: 7 } });
    const c = enc.config;
    assert.deepEqual([c.hidden_size, c.intermediate_size, c.num_attention_heads, c.num_hidden_layers], [768, 3072, 12, 12]);
    const C = c.hidden_size;
    const I = c.intermediate_size;
    const perLayer = 4 * C * C + 4 * C + 2 * C * I + I + C + 4 * C;
    const params = (c.vocab_size + c.max_position_embeddings) * C + c.num_hidden_layers * perLayer + 2 * C;
    assert.equal(params, 123060480, 'CLIP ViT-L/14 text tower');
    assert.equal(big.memoryStats().weights - before, params * 4, 'every weight resident once, as f32');
    const out = await enc.encode(Int32Array.from(row(0)), 1);
    assert.deepEqual(out.lastHiddenState.shape, [1, 77, 768]);
    const v = await out.lastHiddenState.readFloat32();
    assert.ok(v.every(Number.isFinite));
    enc.dispose();
  } finally {
    big.dispose();
  }
});
