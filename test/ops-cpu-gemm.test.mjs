// The GEMM-based CPU ops (linear, linear_geglu, conv2d) against naive JavaScript references, on
// shapes that are not multiples of the kernel's tiles (12/6/4 rows x 32/16/8 columns, K blocks of
// 256, row blocks of 192), with every fused epilogue, for prepared (packed) and plain weights.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Engine } from '../dist/index.js';
import { assertClose } from './helpers/compare.mjs';
import { activate, conv2dRef, convOutSize, linearRef, randArray } from './helpers/ops-cpu-reference.mjs';

const engine = new Engine({ backend: 'cpu' });
let seed = 1;

function linearCase(label, { lead, k, n, bias = false, act = 'none', residual = false, prepared = true }) {
  const m = lead.reduce((a, b) => a * b, 1);
  const x = randArray(m * k, seed++);
  const w = randArray(n * k, seed++, -0.5, 0.5);
  const b = bias ? randArray(n, seed++) : undefined;
  const r = residual ? randArray(m * n, seed++) : undefined;
  const wt = prepared ? engine.prepareWeight(engine.tensor(w, [n, k]), 'linear') : engine.tensor(w, [n, k]);
  const out = engine.empty([...lead, n]);
  engine.opSync('linear', {
    x: engine.tensor(x, [...lead, k]),
    w: wt,
    bias: b && engine.prepareWeight(engine.tensor(b, [n]), 'vector'),
    residual: r && engine.tensor(r, [...lead, n]),
    out,
    act,
  });
  const want = linearRef(x, w, { m, k, n, bias: b, act, residual: r });
  assertClose(out.readSync(), want, { atol: 1e-5 * Math.sqrt(k), rtol: 1e-5 }, label);
}

test('linear matches x·wᵀ on odd shapes, K blocks and row blocks', () => {
  linearCase('1 x 3 -> 5', { lead: [1], k: 3, n: 5 });
  linearCase('[2, 7] x 70 -> 45', { lead: [2, 7], k: 70, n: 45 });
  linearCase('13 x 300 -> 33 (two K blocks)', { lead: [13], k: 300, n: 33, bias: true });
  linearCase('200 x 17 -> 40 (two row blocks)', { lead: [200], k: 17, n: 40, residual: true });
  linearCase('201 x 520 -> 7 (3 K blocks, 2 row blocks)', { lead: [201], k: 520, n: 7, bias: true, residual: true });
  linearCase('2 x 320 -> 1280 (time embedding: split along N)', { lead: [2], k: 320, n: 1280, bias: true, act: 'silu' });
  linearCase('K = 0: the epilogue of zeros', { lead: [3], k: 0, n: 5, bias: true, act: 'silu', residual: true });
});

test('linear fuses bias, every activation and the residual', () => {
  for (const act of ['none', 'silu', 'gelu', 'gelu_tanh', 'quick_gelu']) {
    linearCase(`act ${act}`, { lead: [3, 11], k: 29, n: 37, bias: true, act, residual: true });
  }
});

test('linear accepts the plain [N, K] weight as well as the prepared one', () => {
  linearCase('plain weight', { lead: [50], k: 65, n: 70, bias: true, act: 'gelu', prepared: false });
  const w = randArray(70 * 65, 77);
  const prepared = engine.prepareWeight(engine.tensor(w, [70, 65]), 'linear');
  assert.deepEqual(prepared.shape, [70, 65]);
  assert.deepEqual(prepared.readSync(), w, 'a prepared weight downloads as its plain values');
});

test('linear with the residual aliasing the output (in-place residual add)', () => {
  const m = 20;
  const k = 12;
  const n = 9;
  const x = randArray(m * k, seed++);
  const w = randArray(n * k, seed++);
  const r = randArray(m * n, seed++);
  const h = engine.tensor(r, [m, n]);
  engine.opSync('linear', { x: engine.tensor(x, [m, k]), w: engine.tensor(w, [n, k]), residual: h, out: h, act: 'silu' });
  assertClose(h.readSync(), linearRef(x, w, { m, k, n, act: 'silu', residual: r }), { atol: 1e-5, rtol: 1e-5 }, 'in place');
});

function gegluCase(label, { m, k, f, bias = true, prepared = true }) {
  const x = randArray(m * k, seed++);
  const w = randArray(2 * f * k, seed++, -0.3, 0.3);
  const b = bias ? randArray(2 * f, seed++) : undefined;
  const out = engine.empty([m, f]);
  const wt = engine.tensor(w, [2 * f, k]);
  engine.opSync('linear_geglu', {
    x: engine.tensor(x, [m, k]),
    w: prepared ? engine.prepareWeight(wt, 'linear') : wt,
    bias: b && engine.tensor(b, [2 * f]),
    out,
  });
  const proj = linearRef(x, w, { m, k, n: 2 * f, bias: b });
  const want = new Float64Array(m * f);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < f; j++) want[i * f + j] = proj[i * 2 * f + j] * activate(proj[i * 2 * f + f + j], 'gelu');
  assertClose(out.readSync(), want, { atol: 2e-5 * Math.sqrt(k), rtol: 1e-5 }, label);
}

test('linear_geglu and geglu: a · gelu(g) of the two halves', () => {
  gegluCase('one K block, F not a multiple of the vector', { m: 23, k: 19, f: 21 });
  gegluCase('three K blocks (partial sums), 10 panels split in two', { m: 50, k: 600, f: 150 });
  gegluCase('plain weight, no bias', { m: 13, k: 40, f: 32, bias: false, prepared: false });

  const xs = randArray(3 * 5 * 2 * 17, seed++, -6, 6);
  const g = engine.empty([3, 5, 17]);
  engine.opSync('geglu', { x: engine.tensor(xs, [3, 5, 34]), out: g });
  const wantG = new Float64Array(3 * 5 * 17);
  for (let r = 0; r < 15; r++)
    for (let j = 0; j < 17; j++) wantG[r * 17 + j] = xs[r * 34 + j] * activate(xs[r * 34 + 17 + j], 'gelu');
  assertClose(g.readSync(), wantG, { atol: 2e-6, rtol: 2e-6 }, 'geglu');
});

function convCase(label, o) {
  const { n, h, wd, cin, cout, kh, kw, stride = 1, pad = 0, padEnd = pad, prepared = true } = o;
  const x = randArray(n * h * wd * cin, seed++);
  const w = randArray(cout * kh * kw * cin, seed++, -0.5, 0.5);
  const bias = o.bias ? randArray(cout, seed++) : undefined;
  const frameBias = o.frameBias ? randArray(n * cout, seed++) : undefined;
  const ho = convOutSize(h, kh, stride, pad, padEnd);
  const wo = convOutSize(wd, kw, stride, pad, padEnd);
  const residual = o.residual ? randArray(n * ho * wo * cout, seed++) : undefined;
  const wt = engine.tensor(w, [cout, kh, kw, cin]);
  const out = engine.empty([n, ho, wo, cout]);
  engine.opSync('conv2d', {
    x: engine.tensor(x, [n, h, wd, cin]),
    w: prepared ? engine.prepareWeight(wt, 'conv') : wt,
    bias: bias && engine.tensor(bias, [cout]),
    frameBias: frameBias && engine.tensor(frameBias, [n, cout]),
    residual: residual && engine.tensor(residual, [n, ho, wo, cout]),
    out,
    stride,
    pad,
    padEnd,
    outScale: o.outScale ?? 1,
  });
  const want = conv2dRef(x, w, { ...o, bias, frameBias, residual });
  assertClose(out.readSync(), want.out, { atol: 1e-5 * Math.sqrt(kh * kw * cin), rtol: 1e-5 }, label);
}

test('conv2d 3x3 and 1x1, stride 1 and 2, zero padding, odd sizes', () => {
  convCase('3x3 pad 1', { n: 2, h: 5, wd: 7, cin: 3, cout: 5, kh: 3, kw: 3, pad: 1, bias: true });
  convCase('3x3 stride 2 pad 1, odd input', { n: 1, h: 7, wd: 9, cin: 6, cout: 33, kh: 3, kw: 3, stride: 2, pad: 1, bias: true });
  convCase('3x3 stride 2 no pad, even input', { n: 2, h: 8, wd: 6, cin: 4, cout: 7, kh: 3, kw: 3, stride: 2 });
  convCase('1x1', { n: 2, h: 4, wd: 5, cin: 19, cout: 11, kh: 1, kw: 1, bias: true });
  convCase('1x1 stride 2', { n: 1, h: 5, wd: 5, cin: 8, cout: 3, kh: 1, kw: 1, stride: 2 });
  convCase('3x3 with taps split across K blocks (Cin 40)', { n: 2, h: 6, wd: 5, cin: 40, cout: 20, kh: 3, kw: 3, pad: 1, bias: true });
  convCase('3x3 pad 2, larger than one row block', { n: 1, h: 15, wd: 17, cin: 5, cout: 9, kh: 3, kw: 3, pad: 2 });
  convCase('conv_out to 4 channels', { n: 2, h: 6, wd: 6, cin: 32, cout: 4, kh: 3, kw: 3, pad: 1, bias: true });
  convCase('3x3 stride 2, asymmetric pad (0, 1) of the VAE downsampler', { n: 2, h: 8, wd: 10, cin: 6, cout: 5, kh: 3, kw: 3, stride: 2, pad: 0, padEnd: 1, bias: true });
  convCase('3x3 stride 2, asymmetric pad (0, 1), odd input', { n: 1, h: 7, wd: 9, cin: 4, cout: 3, kh: 3, kw: 3, stride: 2, pad: 0, padEnd: 1 });
});

test('conv2d fuses bias, per-frame bias, residual and out_scale; plain weights work too', () => {
  const o = { n: 3, h: 6, wd: 5, cin: 7, cout: 13, kh: 3, kw: 3, pad: 1, bias: true, frameBias: true, residual: true };
  convCase('all epilogue terms', { ...o, outScale: 0.70710677 });
  convCase('plain [Cout, KH, KW, Cin] weight', { ...o, prepared: false });
});

test('linear and conv2d refuse mismatched shapes with messages naming the op', () => {
  const bad = (op, args, re) =>
    assert.throws(
      () => engine.opSync(op, args),
      (err) => err.code === 'ERR_INDETAIL_INVALID_ARGUMENT' && err.message.startsWith(`${op}: `) && re.test(err.message),
    );
  const x = engine.empty([4, 6]);
  const w = engine.empty([5, 6]);
  bad('linear', { x, w: engine.empty([5, 7]), out: engine.empty([4, 5]) }, /does not match w/);
  bad('linear', { x, w, out: engine.empty([4, 6]) }, /out must have shape \[4, 5\]/);
  bad('linear', { x, w, bias: engine.empty([4]), out: engine.empty([4, 5]) }, /bias must have shape \[5\]/);
  bad('linear', { x, w, residual: engine.empty([5, 4]), out: engine.empty([4, 5]) }, /residual must have shape/);
  const img = engine.empty([1, 5, 5, 3]);
  const cw = engine.empty([8, 3, 3, 3]);
  bad('conv2d', { x: img, w: engine.empty([8, 3, 3, 4]), out: engine.empty([1, 5, 5, 8]), pad: 1 }, /Cin = 3/);
  bad('conv2d', { x: img, w: cw, out: engine.empty([1, 5, 5, 8]), stride: 2, pad: 1 }, /out must have shape \[1, 3, 3, 8\]/);
  bad('conv2d', { x: img, w: cw, out: engine.empty([1, 5, 5, 8]), pad: 1, frameBias: engine.empty([2, 8]) }, /frame_bias/);
  bad('conv2d', { x: img, w: cw, out: engine.empty([1, 5, 5, 8]), stride: 0 }, /stride must be at least 1/);
  bad('geglu', { x: engine.empty([2, 5]), out: engine.empty([2, 2]) }, /\[\.\.\., 2F\]/);
});
