// Weight views (a model tensor read as rows of a stored one, optionally transposed: OpenCLIP's
// packed in_proj and its text_projection) are cut in the stored dtype. A text encoder whose q/k/v
// weights are row views of one packed tensor and whose fc1 weights are stored transposed gives
// the same bits as the same weights stored plainly, in F16 and in BF16, in both CPU precisions;
// a NaN inside a view is reported with the stored key, the index in the stored tensor and the
// model name it was read as.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { CLIPTextEncoder, Engine, openSafetensors } from '../dist/index.js';
import { sameBits } from './helpers/compare.mjs';
import { fixturePath } from './helpers/fixtures.mjs';
import { encodeFloats } from './helpers/hostile.mjs';
import { roundBF16 } from './helpers/low-precision.mjs';
import { readSafetensorsJs, writeRawSafetensors } from './helpers/safetensors-js.mjs';

const tinyDir = fixturePath('tiny-sd15', 'text_encoder');
const config = JSON.parse(readFileSync(path.join(tinyDir, 'config.json'), 'utf8'));
const source = readSafetensorsJs(path.join(tinyDir, 'model.safetensors'));
const C = config.hidden_size;
const dir = mkdtempSync(path.join(tmpdir(), 'indetail-views-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Writes `tensors` (name -> { shape, values }) as one safetensors file of `dtype`. */
function writeFile(name, tensors, dtype) {
  const header = {};
  const chunks = [];
  let offset = 0;
  for (const [key, { shape, values }] of Object.entries(tensors)) {
    const data = encodeFloats(values, dtype);
    header[key] = { dtype, shape, data_offsets: [offset, offset + data.length] };
    chunks.push(data);
    offset += data.length;
  }
  const file = path.join(dir, name);
  writeRawSafetensors(file, header, Buffer.concat(chunks));
  return file;
}

const transpose = (values, [r, c]) => Array.from({ length: r * c }, (_, k) => values[(k % r) * c + Math.floor(k / r)]);

/**
 * The tiny text encoder's weights in `dtype` (values representable in it), stored plainly and
 * packed as a single file stores them (model tensors under a prefix, the packed ones outside it):
 * per layer q/k/v as one [3C, C] in_proj (read back as row views) and fc1 stored transposed (read
 * back as a transposed view). `poison(tensors)` may change the packed file's tensors.
 */
function checkpoints(dtype, poison = () => {}) {
  const round = dtype === 'BF16' ? roundBF16 : (x) => x;
  const plain = {};
  for (const [key, info] of Object.entries(source.tensors)) {
    if (info.dtype === 'F16' || info.dtype === 'F32') plain[key] = { shape: info.shape, values: source.values(key).map(round) };
  }
  const packed = Object.fromEntries(Object.entries(plain).map(([k, v]) => [`${PREFIX}${k}`, v]));
  const map = {};
  for (let l = 0; l < config.num_hidden_layers; l++) {
    const p = `text_model.encoder.layers.${l}.`;
    const names = ['q_proj', 'k_proj', 'v_proj'].map((q) => `${p}self_attn.${q}.weight`);
    packed[`packed.${l}.in_proj_weight`] = { shape: [3 * C, C], values: names.flatMap((n) => plain[n].values) };
    names.forEach((n, i) => {
      delete packed[`${PREFIX}${n}`];
      map[n] = { key: `packed.${l}.in_proj_weight`, rows: [i * C, C] };
    });
    const fc1 = plain[`${p}mlp.fc1.weight`];
    delete packed[`${PREFIX}${p}mlp.fc1.weight`];
    packed[`packed.${l}.fc1_t`] = { shape: [fc1.shape[1], fc1.shape[0]], values: transpose(fc1.values, fc1.shape) };
    map[`${p}mlp.fc1.weight`] = { key: `packed.${l}.fc1_t`, transpose: true };
  }
  poison(packed);
  return { plain: writeFile(`plain-${dtype}.safetensors`, plain, dtype), packed: writeFile(`packed-${dtype}.safetensors`, packed, dtype), map };
}

const PREFIX = 'te.';

async function encoderOf(engine, file, map) {
  const files = [{ file: await openSafetensors(file), ...(map ? { prefix: PREFIX } : {}) }];
  return CLIPTextEncoder.load(engine, { config, weights: { files, ...(map ? { map } : {}) } });
}

const ids = Int32Array.from({ length: 2 * 77 }, (_, i) => (i % 77 < 9 ? (i * 37) % config.vocab_size : config.eos_token_id ?? 2));

for (const dtype of ['F16', 'BF16']) {
  test(`${dtype} row and transposed views give the bits of the plainly stored weights (f32 and bf16)`, async () => {
    const files = checkpoints(dtype);
    for (const precision of ['f32', 'bf16']) {
      const engine = new Engine({ backend: 'cpu', precision });
      try {
        const outputs = [];
        for (const [file, map] of [[files.plain], [files.packed, files.map]]) {
          const encoder = await encoderOf(engine, file, map);
          const { lastHiddenState } = await encoder.encode(ids, 2);
          outputs.push(await lastHiddenState.readFloat32());
          lastHiddenState.dispose();
          encoder.dispose();
        }
        assert.ok(outputs[0].some((x) => x !== 0) && outputs[0].every(Number.isFinite), 'a real encoding');
        assert.ok(sameBits(outputs[1], outputs[0]), `${precision}: the views read the same weights`);
      } finally {
        engine.dispose();
      }
    }
  });
}

test('a NaN inside an F16 view is refused naming the stored tensor, its index there and the model name', async () => {
  const key = 'packed.1.in_proj_weight';
  const at = C * C + 5; // in the k rows
  const files = checkpoints('F16', (t) => (t[key].values[at] = Number.NaN));
  const engine = new Engine({ backend: 'cpu' });
  try {
    await assert.rejects(encoderOf(engine, files.packed, files.map), (err) => {
      assert.equal(err.code, 'ERR_INDETAIL_BAD_FILE', err.message);
      assert.ok(err.message.includes(`packed-F16.safetensors: weight '${key}' holds nan at index ${at} (in the part read as 'text_model.encoder.layers.1.self_attn.k_proj.weight')`), err.message);
      return true;
    });
  } finally {
    engine.dispose();
  }
});

test('an infinity inside a transposed BF16 view is reported at its index in the stored tensor', async () => {
  const key = 'packed.0.fc1_t';
  const at = 3 * config.intermediate_size + 17; // stored [C, I]: row 3, column 17
  const files = checkpoints('BF16', (t) => (t[key].values[at] = -Infinity));
  const engine = new Engine({ backend: 'cpu' });
  try {
    await assert.rejects(encoderOf(engine, files.packed, files.map), (err) => err.code === 'ERR_INDETAIL_BAD_FILE' && err.message.includes(`weight '${key}' holds -inf at index ${at} (in the part read as 'text_model.encoder.layers.0.mlp.fc1.weight')`));
  } finally {
    engine.dispose();
  }
});
