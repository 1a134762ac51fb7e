// The norm -> GEMM ops (group_norm_conv2d: the ResNet GroupNorm (+SiLU) -> convolution;
// layer_norm_linear and layer_norm_linear_geglu: the transformer LayerNorm -> projection): on the
// CPU, the reference backend, each is exactly the norm then the GEMM, every epilogue included;
// bad arguments are refused with the message of the op that checks them. (The CUDA kernels that
// normalise while they multiply are checked by the emulator and test/cuda/ops-parity.test.mjs.)
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Engine } from '../dist/index.js';
import { randArray } from './helpers/ops-cpu-reference.mjs';

const engine = new Engine({ backend: 'cpu' });

function tensors(seed0) {
  let seed = seed0;
  return (shape, lo = -1, hi = 1) => engine.tensor(randArray(shape.reduce((a, b) => a * b, 1), seed++, lo, hi), shape);
}
const vec = (t, n, lo, hi) => engine.prepareWeight(t([n], lo, hi), 'vector');

function groupNormConv(fused, { n, h, w, cin, cout, groups, silu, frameBias, residual, outScale }) {
  const t = tensors(7);
  const x = t([n, h, w, cin], -3, 4);
  const gamma = vec(t, cin, 0.5, 1.5), beta = vec(t, cin);
  const wt = engine.prepareWeight(t([cout, 3, 3, cin], -0.2, 0.2), 'conv');
  const extra = {
    bias: vec(t, cout),
    frameBias: frameBias ? t([n, cout]) : undefined,
    residual: residual ? t([n, h, w, cout]) : undefined,
    stride: 1,
    pad: 1,
    outScale,
  };
  const out = engine.empty([n, h, w, cout]);
  if (fused) {
    engine.opSync('group_norm_conv2d', { x, gamma, beta, groups, eps: 1e-5, silu, w: wt, out, ...extra });
  } else {
    const normed = engine.empty([n, h, w, cin]);
    engine.opSync('group_norm', { x, gamma, beta, out: normed, groups, eps: 1e-5, silu });
    engine.opSync('conv2d', { x: normed, w: wt, out, ...extra });
  }
  return out.readSync();
}

function layerNormLinear(fused, { lead, k, n, geglu, residual }) {
  const t = tensors(11);
  const x = t([...lead, k], -2, 5);
  const gamma = vec(t, k, 0.5, 1.5), beta = vec(t, k);
  const rows = geglu ? 2 * n : n;
  const w = engine.prepareWeight(t([rows, k], -0.3, 0.3), 'linear');
  const bias = vec(t, rows);
  const res = residual ? { residual: t([...lead, n]) } : {};
  const out = engine.empty([...lead, n]);
  const op = geglu ? 'linear_geglu' : 'linear';
  if (fused) {
    engine.opSync(`layer_norm_${op}`, { x, gamma, beta, eps: 1e-5, w, bias, out, ...res });
  } else {
    const normed = engine.empty([...lead, k]);
    engine.opSync('layer_norm', { x, gamma, beta, out: normed, eps: 1e-5 });
    engine.opSync(op, { x: normed, w, bias, out, ...res });
  }
  return out.readSync();
}

test('group_norm_conv2d is group_norm then conv2d, bit for bit, with every epilogue', () => {
  for (const c of [
    { n: 2, h: 5, w: 7, cin: 12, cout: 9, groups: 4, silu: true, frameBias: true, residual: false, outScale: 1 },
    { n: 1, h: 8, w: 8, cin: 32, cout: 16, groups: 8, silu: false, frameBias: false, residual: true, outScale: 0.5 },
  ]) {
    assert.deepEqual(groupNormConv(true, c), groupNormConv(false, c), JSON.stringify(c));
  }
});

test('layer_norm_linear and layer_norm_linear_geglu are layer_norm then the projection, bit for bit', () => {
  for (const c of [
    { lead: [2, 9], k: 24, n: 10, geglu: false, residual: true },
    { lead: [13], k: 40, n: 7, geglu: true, residual: false },
  ]) {
    assert.deepEqual(layerNormLinear(true, c), layerNormLinear(false, c), JSON.stringify(c));
  }
});

test('the fused ops refuse bad arguments with the message of the op that checks them', () => {
  const x = engine.empty([1, 4, 4, 6]);
  const ones = (k) => engine.prepareWeight(engine.tensor(new Float32Array(k).fill(1), [k]), 'vector');
  const w = engine.prepareWeight(engine.tensor(new Float32Array(8 * 9 * 6), [8, 3, 3, 6]), 'conv');
  const out = engine.empty([1, 4, 4, 8]);
  const args = { x, gamma: ones(6), beta: ones(6), groups: 3, w, out, pad: 1 };
  assert.doesNotThrow(() => engine.opSync('group_norm_conv2d', args));
  assert.throws(() => engine.opSync('group_norm_conv2d', { ...args, groups: 4 }), /group_norm.*groups/);
  const w5 = engine.prepareWeight(engine.tensor(new Float32Array(8 * 9 * 5), [8, 3, 3, 5]), 'conv');
  assert.throws(() => engine.opSync('group_norm_conv2d', { ...args, w: w5 }), /conv2d.*Cin = 6/);
  const lw = engine.prepareWeight(engine.tensor(new Float32Array(5 * 7), [5, 7]), 'linear');
  const lx = engine.empty([3, 6]);
  assert.throws(
    () => engine.opSync('layer_norm_linear', { x: lx, gamma: ones(6), beta: ones(6), w: lw, out: engine.empty([3, 5]) }),
    /linear.*K = 7/,
  );
});
