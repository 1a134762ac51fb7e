// The Engine and Tensor wrappers: data in and out, lifetimes, errors with a JavaScript stack.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Engine, IndetailError, opNames } from '../dist/index.js';

test('tensors round-trip through the CPU engine and report their shape and dtype', async () => {
  const engine = new Engine({ backend: 'cpu' });
  assert.equal(engine.backend, 'cpu');
  assert.equal(engine.computeDtype, 'f32');
  const data = Float32Array.from({ length: 24 }, (_, i) => i * 0.5 - 3);
  const t = engine.tensor(data, [2, 3, 4]);
  assert.deepEqual(t.shape, [2, 3, 4]);
  assert.equal(t.dtype, 'f32');
  assert.equal(t.device, 'cpu');
  assert.deepEqual(await t.read(), data);
  const ids = engine.tensor(Int32Array.from([1, 2, 3]), [3]);
  assert.equal(ids.dtype, 'i32');
  assert.deepEqual(Array.from(ids.readSync()), [1, 2, 3]);
  engine.dispose();
  assert.equal(engine.disposed, true);
  assert.deepEqual(t.readSync(), data, 'tensors outlive their engine');
});

test('fill and axpy on the CPU match a JavaScript computation', async () => {
  const engine = new Engine();
  const n = 1000003; // odd, larger than one parallel chunk
  const x = Float32Array.from({ length: n }, (_, i) => Math.sin(i));
  const y0 = Float32Array.from({ length: n }, (_, i) => Math.cos(i));
  const tx = engine.tensor(x, [n]);
  const ty = engine.tensor(y0, [n]);
  await engine.op('axpy', { a: 0.75, x: tx, y: ty });
  const y = ty.readSync();
  for (let i = 0; i < n; i += 997) assert.equal(y[i], Math.fround(Math.fround(0.75 * x[i]) + y0[i]));
  await engine.op('fill', { y: ty, value: -2.5 });
  assert.ok(ty.readSync().every((v) => v === -2.5));
});

test('Symbol.dispose releases a tensor; using it afterwards is a clear error', () => {
  const engine = new Engine();
  const t = engine.empty([4, 4]);
  t[Symbol.dispose]();
  assert.equal(t.disposed, true);
  assert.throws(() => t.readSync(), (err) => err instanceof IndetailError && err.code === 'ERR_INDETAIL_DISPOSED');
  assert.throws(() => engine.opSync('fill', { y: t, value: 1 }), /disposed Tensor/);
});

test('native errors become IndetailError with a code and the caller\'s JavaScript stack', async () => {
  const engine = new Engine();
  const a = engine.empty([3]);
  const b = engine.empty([4]);
  await assert.rejects(engine.op('axpy', { a: 1, x: a, y: b }), (err) => {
    assert.ok(err instanceof IndetailError);
    assert.equal(err.code, 'ERR_INDETAIL_INVALID_ARGUMENT');
    assert.match(err.message, /axpy: x F32\[3\] on cpu and y F32\[4\] on cpu must have the same shape/);
    assert.match(err.stack, /engine\.test\.mjs/);
    return true;
  });
});

test('bad arguments are refused with messages naming them', () => {
  assert.throws(() => new Engine({ backend: 'tpu' }), /Expected 'cpu', 'cuda' or 'cuda:<index>' for backend but received "tpu"/);
  const engine = new Engine();
  assert.throws(() => engine.tensor(new Float32Array(5), [2, 2]), /data has 5 elements but shape \[2, 2\] needs 4/);
  assert.throws(() => engine.empty([2, -1]), /Expected a non-negative integer for shape\[1\] but received -1/);
  assert.throws(() => engine.opSync('nope', {}), /unknown op 'nope'/);
  assert.throws(() => engine.opSync('fill', { y: 3, value: 1 }), /Expected a Tensor for y but received 3/);
  assert.ok(opNames().includes('attention'));
});

test('a misspelt op argument is an error naming the op and the key, never a silent default', async () => {
  const engine = new Engine();
  const x = engine.tensor(new Float32Array(2 * 4 * 4 * 3).fill(1), [2, 4, 4, 3]);
  const w = engine.prepareWeight(engine.tensor(new Float32Array(5 * 3 * 3 * 3).fill(0.5), [5, 3, 3, 3]), 'conv');
  const out = engine.tensor(new Float32Array(2 * 2 * 2 * 5).fill(-7), [2, 2, 2, 5]);
  const unknown = (op, key) => (err) => {
    assert.ok(err instanceof IndetailError, String(err));
    assert.match(err.message, new RegExp(`op '${op}': unknown argument '${key}' \\(accepted: `));
    return true;
  };
  // 'strid' instead of 'stride': refused, where a default of 1 would have given another result (and shape error).
  assert.throws(() => engine.opSync('conv2d', { x, w, out, strid: 2, pad: 1 }), unknown('conv2d', 'strid'));
  await assert.rejects(engine.op('conv2d', { x, w, out, strid: 2, pad: 1 }), unknown('conv2d', 'strid'));
  await assert.rejects(engine.timeOp('conv2d', { x, w, out, strid: 2, pad: 1 }), unknown('conv2d', 'strid'));
  assert.ok((await out.readFloat32()).every((v) => v === -7), 'nothing ran');
  engine.opSync('conv2d', { x, w, out, stride: 2, pad: 1 });
  assert.ok((await out.readFloat32()).every((v) => v !== -7), 'the spelt-out call runs');
  // The unknown key is reported even where a required argument is missing because of it.
  const eps = engine.empty([1, 2, 2, 3]);
  assert.throws(() => engine.opSync('guidance_step', { eps, x: eps, out: eps, alphaFrom: 0.5, alpha_to: 0.6, uncondRow: [-1], condRow: [0] }), unknown('guidance_step', 'alpha_to'));
  assert.throws(() => engine.opSync('fill', { y: out, value: 1, valeu: 2 }), /accepted: y, value\)/);
  for (const t of [x, w, out, eps]) t.dispose();
  engine.dispose();
});

test('memory statistics track the allocator', () => {
  const engine = new Engine();
  const before = engine.memoryStats();
  const t = engine.empty([1024, 1024]);
  const during = engine.memoryStats();
  assert.ok(during.inUse >= before.inUse + 4 * 1024 * 1024);
  t.dispose();
  const after = engine.memoryStats();
  assert.ok(after.cached >= 4 * 1024 * 1024, 'freed blocks are cached for reuse');
  assert.ok(after.peak >= during.inUse);
});

test('slice and reshape are views sharing memory with their tensor', async () => {
  const engine = new Engine();
  const t = engine.tensor(Float32Array.from({ length: 24 }, (_, i) => i), [4, 3, 2]);
  const s = t.slice(1, 2);
  assert.deepEqual(s.shape, [2, 3, 2]);
  assert.deepEqual(Array.from(s.readSync()), Array.from({ length: 12 }, (_, i) => i + 6));
  await engine.op('fill', { y: s.slice(1), value: -1 });
  assert.deepEqual(Array.from(t.readSync().slice(12, 18)), [-1, -1, -1, -1, -1, -1]);
  const r = t.reshape([-1, 6]);
  assert.deepEqual(r.shape, [4, 6]);
  assert.throws(() => t.slice(3, 2), /slice \[3, 5\) out of range/);
  assert.throws(() => t.reshape([5, 5]), /cannot reshape/);
  s.dispose();
  assert.equal(t.readSync().length, 24, 'disposing a view leaves its tensor alive');
});

test('gather_frames copies frames by index in one call, and refuses indices outside the source', async () => {
  const engine = new Engine();
  const src = engine.tensor(Float32Array.from({ length: 12 }, (_, i) => i), [3, 2, 2]);
  const out = engine.empty([4, 2, 2]);
  await engine.op('gather_frames', { src, index: [2, 0, 2, 1], out }, { sync: false });
  assert.deepEqual(Array.from(out.readSync()), [8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7]);
  assert.throws(() => engine.opSync('gather_frames', { src, index: [0, 3, 0, 0], out }), /gather_frames: index\[1\] = 3 is not a frame of src/);
  assert.throws(() => engine.opSync('gather_frames', { src, index: [0], out }), /index has 1 entries but out/);
});
