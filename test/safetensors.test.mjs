// The native safetensors reader on the fixture checkpoints, cross-checked value by value against
// an independent JavaScript reader.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openSafetensors, openSafetensorsSync } from '../dist/index.js';
import { fixturePath } from './helpers/fixtures.mjs';
import { readSafetensorsJs } from './helpers/safetensors-js.mjs';

const unetFile = fixturePath('tiny-sd15', 'unet', 'diffusion_pytorch_model.safetensors');
const textFile = fixturePath('tiny-sd15', 'text_encoder', 'model.safetensors');
const singleFile = fixturePath('tiny-sd15.safetensors');

test('the tiny UNet lists every tensor with the names, dtypes and shapes of the file', async () => {
  const f = await openSafetensors(unetFile);
  const js = readSafetensorsJs(unetFile);
  const names = Object.keys(js.tensors).sort();
  assert.equal(f.entries().length, 684);
  assert.deepEqual(f.names(), names);
  for (const e of f.entries()) {
    assert.equal(e.dtype, js.tensors[e.name].dtype, e.name);
    assert.deepEqual(e.shape, js.tensors[e.name].shape, e.name);
  }
  assert.deepEqual(f.entry('conv_in.weight').shape, [32, 4, 3, 3]);
  assert.equal(f.entry('conv_in.weight').dtype, 'F16');
  assert.deepEqual(f.metadata, { format: 'pt' });
  f.close();
});

test('F16 weights are widened to exactly the F32 values the JavaScript reader decodes', () => {
  const f = openSafetensorsSync(unetFile);
  const js = readSafetensorsJs(unetFile);
  for (const name of ['conv_in.weight', 'conv_in.bias', 'up_blocks.2.attentions.1.transformer_blocks.0.attn1.to_q.weight', 'time_embedding.linear_1.weight']) {
    const t = f.tensor(name);
    assert.equal(t.dtype, 'f32');
    assert.deepEqual(t.shape, js.tensors[name].shape);
    const got = t.readSync();
    const want = js.values(name);
    assert.equal(got.length, want.length);
    for (let i = 0; i < want.length; i++) assert.equal(got[i], Math.fround(want[i]), `${name}[${i}]`);
  }
  const raw = f.tensorRaw('conv_in.bias');
  assert.equal(raw.dtype, 'f16');
  assert.equal(raw.byteLength, 64);
});

test('integer tensors: the I64 position_ids buffer reads as 0..76', () => {
  const f = openSafetensorsSync(textFile);
  assert.equal(f.entry('text_model.embeddings.position_ids').dtype, 'I64');
  const ids = f.tensor('text_model.embeddings.position_ids').readSync();
  assert.deepEqual(Array.from(ids), Array.from({ length: 77 }, (_, i) => i));
});

test('the single-file checkpoint and golden F32 files read back exactly', () => {
  const f = openSafetensorsSync(singleFile);
  const js = readSafetensorsJs(singleFile);
  assert.equal(f.entries().length, Object.keys(js.tensors).length);
  assert.ok(f.has('model.diffusion_model.input_blocks.0.0.weight'));
  const g = openSafetensorsSync(fixturePath('golden', 'unet_t981.safetensors'));
  const gjs = readSafetensorsJs(fixturePath('golden', 'unet_t981.safetensors'));
  const got = g.tensor('noise_pred').readSync();
  const want = gjs.values('noise_pred');
  assert.deepEqual(Array.from(got), want);
  const t = g.tensor('timestep');
  assert.equal(t.dtype, 'i32');
});

test('a tensor keeps the file mapped after close(); reading from a closed file fails clearly', () => {
  const f = openSafetensorsSync(unetFile);
  const t = f.tensor('conv_in.bias');
  f.close();
  assert.equal(t.readSync().length, 32);
  assert.throws(() => f.tensor('conv_in.bias'), { code: 'ERR_INDETAIL_DISPOSED' });
  t.dispose();
  assert.throws(() => t.readSync(), { code: 'ERR_INDETAIL_DISPOSED' });
});

test('asking for a tensor that is not there names the file and the tensor', () => {
  const f = openSafetensorsSync(unetFile);
  assert.throws(() => f.tensor('no.such.weight'), (err) => {
    assert.equal(err.code, 'ERR_INDETAIL_BAD_FILE');
    assert.match(err.message, /no tensor named 'no\.such\.weight'/);
    assert.ok(err.message.includes(unetFile));
    return true;
  });
});
