// group_norm_conv2d (the ResNet pair GroupNorm (+SiLU) -> convolution as one op): on the CPU, the
// reference backend, it is exactly group_norm then conv2d, every epilogue included; bad arguments
// are refused with the message of the op that checks them. (The CUDA kernel that normalises while
// it convolves is checked by the emulator and by test/cuda/ops-parity.test.mjs.)
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Engine } from '../dist/index.js';
import { randArray } from './helpers/ops-cpu-reference.mjs';

const engine = new Engine({ backend: 'cpu' });

function run(fused, { n, h, w, cin, cout, groups, silu, frameBias, residual, outScale }) {
  let seed = 7;
  const t = (shape, lo = -1, hi = 1) => engine.tensor(randArray(shape.reduce((a, b) => a * b, 1), seed++, lo, hi), shape);
  const x = t([n, h, w, cin], -3, 4);
  const gamma = engine.prepareWeight(t([cin], 0.5, 1.5), 'vector');
  const beta = engine.prepareWeight(t([cin]), 'vector');
  const wt = engine.prepareWeight(t([cout, 3, 3, cin], -0.2, 0.2), 'conv');
  const bias = engine.prepareWeight(t([cout]), 'vector');
  const extra = {
    frameBias: frameBias ? t([n, cout]) : undefined,
    residual: residual ? t([n, h, w, cout]) : undefined,
    stride: 1,
    pad: 1,
    outScale,
  };
  const out = engine.empty([n, h, w, cout]);
  if (fused) {
    engine.opSync('group_norm_conv2d', { x, gamma, beta, groups, eps: 1e-5, silu, w: wt, bias, out, ...extra });
  } else {
    const normed = engine.empty([n, h, w, cin]);
    engine.opSync('group_norm', { x, gamma, beta, out: normed, groups, eps: 1e-5, silu });
    engine.opSync('conv2d', { x: normed, w: wt, bias, out, ...extra });
  }
  return out.readSync();
}

test('group_norm_conv2d is group_norm then conv2d, bit for bit, with every epilogue', () => {
  for (const c of [
    { n: 2, h: 5, w: 7, cin: 12, cout: 9, groups: 4, silu: true, frameBias: true, residual: false, outScale: 1 },
    { n: 1, h: 8, w: 8, cin: 32, cout: 16, groups: 8, silu: false, frameBias: false, residual: true, outScale: 0.5 },
  ]) {
    assert.deepEqual(run(true, c), run(false, c), JSON.stringify(c));
  }
});

test('group_norm_conv2d refuses groups that do not divide the channels and a wrong weight', () => {
  const x = engine.empty([1, 4, 4, 6]);
  const v = (k) => engine.prepareWeight(engine.tensor(new Float32Array(k).fill(1), [k]), 'vector');
  const w = engine.prepareWeight(engine.tensor(new Float32Array(8 * 9 * 6), [8, 3, 3, 6]), 'conv');
  const out = engine.empty([1, 4, 4, 8]);
  const args = { x, gamma: v(6), beta: v(6), groups: 3, w, out, pad: 1 };
  assert.doesNotThrow(() => engine.opSync('group_norm_conv2d', args));
  assert.throws(() => engine.opSync('group_norm_conv2d', { ...args, groups: 4 }), /group_norm.*groups/);
  const w5 = engine.prepareWeight(engine.tensor(new Float32Array(8 * 9 * 5), [8, 3, 3, 5]), 'conv');
  assert.throws(() => engine.opSync('group_norm_conv2d', { ...args, w: w5 }), /conv2d.*Cin = 6/);
});
