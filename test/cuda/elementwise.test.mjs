// CUDA fill/axpy/copy against their CPU twins (skips with a reason where there is no GPU).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Engine } from '../../dist/index.js';
import { cudaSkipReason } from '../helpers/backends.mjs';
import { roundArray } from '../../bench/cases/op-cases.mjs';
import { closeness } from '../helpers/compare.mjs';

const skip = cudaSkipReason();
if (skip) console.log(skip);

for (const precision of ['f16', 'bf16']) {
  test(`fill and axpy on CUDA (${precision}) match the CPU backend`, { skip: skip ?? false }, async () => {
    const cpu = new Engine({ backend: 'cpu' });
    const gpu = new Engine({ backend: 'cuda', precision });
    for (const n of [1, 255, 256, 1000003]) {
      // The inputs are stored in the 16-bit type: the reference uses the same rounded values, so
      // the only difference left is the single rounding of the result (half an ulp).
      const x = roundArray(Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) * 4), precision);
      const y = roundArray(Float32Array.from({ length: n }, (_, i) => Math.cos(i * 0.11) * 2), precision);
      const cx = cpu.tensor(x, [n]);
      const cy = cpu.tensor(y, [n]);
      const gx = gpu.tensor(x, [n]);
      const gy = gpu.tensor(y, [n]);
      await cpu.op('axpy', { a: -1.25, x: cx, y: cy });
      await gpu.op('axpy', { a: -1.25, x: gx, y: gy });
      const halfUlp = precision === 'f16' ? 2 ** -11 : 2 ** -8;
      const s = closeness(gy.readSync(), cy.readSync(), { atol: 1e-6, rtol: halfUlp });
      assert.equal(s.violations, 0, `n=${n}: max abs error ${s.maxAbs}`);
      await gpu.op('fill', { y: gy, value: 0.5 });
      assert.ok(gy.readSync().every((v) => v === 0.5));
    }
  });
}

test('copy converts between f32 and f16 on the device', { skip: skip ?? false }, async () => {
  const gpu = new Engine({ backend: 'cuda' });
  const x = Float32Array.from({ length: 1000 }, (_, i) => i / 7);
  const a = gpu.tensor(x, [1000], 'f32');
  const b = gpu.empty([1000], 'f16');
  await gpu.op('copy', { src: a, dst: b });
  const s = closeness(b.readSync(), x, { atol: 0, rtol: 2 ** -11 });
  assert.equal(s.violations, 0);
});
