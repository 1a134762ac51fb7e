// The CPU backend's bf16 precision (linear, linear_geglu, conv2d, group_norm_conv2d) against naive JavaScript
// references on bf16-rounded operands: x and w rounded to bf16 (round to nearest even), products
// summed in double, bias / residual / activation in full precision. The kernels accumulate in
// fp32, so the only difference allowed is fp32 summation order (1e-5·sqrt(K) at unit scale); a
// wrong operand rounding, layout or K pairing is off by far more (bf16 rounding alone moves these
// outputs by ~1e-2). Also: half-precision weights in the f32 precision are exact, the
// precision option's errors, and what a prepared bf16 weight holds.
// Runs at every level ops-cpu-levels.test.mjs selects (native vdpbf16ps, AMX, emulated, fp32
// kernels on rounded operands).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { Engine, buildInfo, openSafetensors } from '../dist/index.js';
import { assertClose } from './helpers/compare.mjs';
import { bf16Bits, f16Bits, roundBF16, roundF16 } from './helpers/low-precision.mjs';
import { activate, conv2dRef, convOutSize, groupNormRef, linearRef, randArray } from './helpers/ops-cpu-reference.mjs';
import { writeRawSafetensors } from './helpers/safetensors-js.mjs';

const engine = new Engine({ backend: 'cpu', precision: 'bf16' });
const bf = (a) => a.map(roundBF16);
let seed = 100;

function linearCase(label, { m, k, n, bias = false, act = 'none', residual = false, prepared = true }) {
  const x = randArray(m * k, seed++);
  const w = randArray(n * k, seed++, -0.5, 0.5);
  const b = bias ? randArray(n, seed++) : undefined;
  const r = residual ? randArray(m * n, seed++) : undefined;
  const wt = engine.tensor(w, [n, k]);
  const out = engine.empty([m, n]);
  engine.opSync('linear', {
    x: engine.tensor(x, [m, k]),
    w: prepared ? engine.prepareWeight(wt, 'linear') : wt,
    bias: b && engine.prepareWeight(engine.tensor(b, [n]), 'vector'),
    residual: r && engine.tensor(r, [m, n]),
    out,
    act,
  });
  const want = linearRef(bf(x), bf(w), { m, k, n, bias: b, act, residual: r });
  assertClose(out.readSync(), want, { atol: 1e-5 * Math.sqrt(k), rtol: 1e-5 }, label);
}

test('bf16 linear: bf16 operands, fp32 accumulation, on odd shapes and several K blocks', () => {
  assert.equal(engine.precision, 'bf16');
  linearCase('1 x 3 -> 5 (odd K)', { m: 1, k: 3, n: 5 });
  linearCase('13 x 301 -> 33 (odd K, partial panel)', { m: 13, k: 301, n: 33, bias: true });
  linearCase('201 x 900 -> 70 (three K blocks, two row blocks)', { m: 201, k: 900, n: 70, bias: true, residual: true });
  linearCase('37 x 64 -> 96, every epilogue term', { m: 37, k: 64, n: 96, bias: true, act: 'gelu', residual: true });
  linearCase('2 x 320 -> 1280 (split along N)', { m: 2, k: 320, n: 1280, bias: true, act: 'silu' });
  linearCase('plain fp32 weight (packed per call)', { m: 50, k: 65, n: 70, bias: true, act: 'quick_gelu', prepared: false });
  linearCase('K = 0: the epilogue of zeros', { m: 3, k: 0, n: 5, bias: true, act: 'silu', residual: true });
});

function gegluCase(label, { m, k, f, prepared = true }) {
  const x = randArray(m * k, seed++);
  const w = randArray(2 * f * k, seed++, -0.3, 0.3);
  const b = randArray(2 * f, seed++);
  const out = engine.empty([m, f]);
  const wt = engine.tensor(w, [2 * f, k]);
  engine.opSync('linear_geglu', { x: engine.tensor(x, [m, k]), w: prepared ? engine.prepareWeight(wt, 'linear') : wt, bias: engine.tensor(b, [2 * f]), out });
  const proj = linearRef(bf(x), bf(w), { m, k, n: 2 * f, bias: b });
  const want = new Float64Array(m * f);
  for (let i = 0; i < m; i++) for (let j = 0; j < f; j++) want[i * f + j] = proj[i * 2 * f + j] * activate(proj[i * 2 * f + f + j], 'gelu');
  assertClose(out.readSync(), want, { atol: 2e-5 * Math.sqrt(k), rtol: 1e-5 }, label);
}

test('bf16 linear_geglu: the prepared weight read in place, and odd F repacked per call', () => {
  gegluCase('F = 64, one K block (weight read in place)', { m: 23, k: 40, f: 64 });
  gegluCase('F = 96, three K blocks (partial sums)', { m: 50, k: 901, f: 96 });
  gegluCase('F = 21 (panels built per call)', { m: 13, k: 19, f: 21 });
  gegluCase('plain weight', { m: 9, k: 32, f: 48, prepared: false });
});

function convCase(label, o) {
  const { n, h, wd, cin, cout, kh, kw, stride = 1, pad = 0, padEnd = pad } = o;
  const x = randArray(n * h * wd * cin, seed++);
  const w = randArray(cout * kh * kw * cin, seed++, -0.5, 0.5);
  const bias = randArray(cout, seed++);
  const ho = convOutSize(h, kh, stride, pad, padEnd);
  const wo = convOutSize(wd, kw, stride, pad, padEnd);
  const residual = o.residual ? randArray(n * ho * wo * cout, seed++) : undefined;
  const out = engine.empty([n, ho, wo, cout]);
  engine.opSync('conv2d', {
    x: engine.tensor(x, [n, h, wd, cin]),
    w: engine.prepareWeight(engine.tensor(w, [cout, kh, kw, cin]), 'conv'),
    bias: engine.tensor(bias, [cout]),
    residual: residual && engine.tensor(residual, [n, ho, wo, cout]),
    out,
    stride,
    pad,
    padEnd,
  });
  const want = conv2dRef(bf(x), bf(w), { ...o, bias, residual });
  assertClose(out.readSync(), want.out, { atol: 1e-5 * Math.sqrt(kh * kw * cin), rtol: 1e-5 }, label);
}

test('bf16 conv2d: 3x3 (taps across K pairs and blocks), stride 2, asymmetric pad, 1x1', () => {
  convCase('3x3 Cin 3 (K = 27, odd)', { n: 2, h: 5, wd: 7, cin: 3, cout: 5, kh: 3, kw: 3, pad: 1 });
  convCase('3x3 Cin 45 (taps straddle K pairs and blocks), residual', { n: 1, h: 9, wd: 6, cin: 45, cout: 40, kh: 3, kw: 3, pad: 1, residual: true });
  convCase('3x3 stride 2, pad (0, 1)', { n: 2, h: 8, wd: 10, cin: 6, cout: 33, kh: 3, kw: 3, stride: 2, pad: 0, padEnd: 1 });
  convCase('1x1, 200 pixels', { n: 2, h: 10, wd: 10, cin: 19, cout: 11, kh: 1, kw: 1 });
});

// group_norm_conv2d: in bf16 the normalised input goes straight to bf16 (never written in fp32);
// the reference rounds the engine's own fp32 GroupNorm (checked against groupNormRef in
// ops-cpu.test.mjs), so the rounding of every input value is the same.
function normConvCase(label, eng, o) {
  const { n, h, wd, cin, cout, groups, silu } = o;
  const x = randArray(n * h * wd * cin, seed++, -2, 3);
  const gamma = randArray(cin, seed++, 0.5, 1.5);
  const beta = randArray(cin, seed++, -0.2, 0.2);
  const w = randArray(cout * 9 * cin, seed++, -0.5, 0.5);
  const bias = randArray(cout, seed++);
  const residual = randArray(n * h * wd * cout, seed++);
  const t = (a, shape) => eng.tensor(a, shape);
  const out = eng.empty([n, h, wd, cout]);
  const args = { x: t(x, [n, h, wd, cin]), gamma: t(gamma, [cin]), beta: t(beta, [cin]), groups, eps: 1e-6, silu };
  eng.opSync('group_norm_conv2d', { ...args, w: eng.prepareWeight(t(w, [cout, 3, 3, cin]), 'conv'), bias: t(bias, [cout]), residual: t(residual, [n, h, wd, cout]), out, pad: 1, outScale: 0.5 });
  const conv = { n, h, wd, cin, cout, kh: 3, kw: 3, pad: 1, bias, residual, outScale: 0.5 };
  let want;
  if (eng.precision === 'bf16') {
    const gn = eng.empty([n, h, wd, cin]);
    eng.opSync('group_norm', { ...args, out: gn });
    want = conv2dRef(bf(gn.readSync()), bf(w), conv).out;
  } else {
    want = conv2dRef(groupNormRef(x, gamma, beta, { n, p: h * wd, c: cin, groups, eps: 1e-6, silu }), w, conv).out;
  }
  assertClose(out.readSync(), want, { atol: 2e-5 * Math.sqrt(9 * cin), rtol: 1e-5 }, label);
}

test('group_norm_conv2d: GroupNorm (+ SiLU) fused into the convolution input, bf16 and f32', () => {
  const f32 = new Engine({ backend: 'cpu', precision: 'f32' });
  for (const eng of [engine, f32]) {
    normConvCase(`${eng.precision}: 32 channels in 8 groups, SiLU`, eng, { n: 2, h: 6, wd: 7, cin: 32, cout: 20, groups: 8, silu: true });
    normConvCase(`${eng.precision}: 48 channels in 3 groups, no SiLU`, eng, { n: 1, h: 9, wd: 5, cin: 48, cout: 33, groups: 3, silu: false });
  }
  f32.dispose();
});

test('a prepared bf16 weight holds the bf16-rounded values', () => {
  const w = randArray(70 * 65, 7);
  const p = engine.prepareWeight(engine.tensor(w, [70, 65]), 'linear');
  assert.equal(p.dtype, 'bf16');
  assert.deepEqual(p.readSync(), Float32Array.from(w, roundBF16));
  assert.equal(engine.memoryStats().weights > 0, true);
});

// A host F16 / BF16 tensor: a safetensors file written here, opened, read as stored.
function halfHostTensors(dir, tensors) {
  const header = {};
  const chunks = [];
  let offset = 0;
  for (const [name, { dtype, values, shape }] of Object.entries(tensors)) {
    const bytes = Buffer.alloc(values.length * 2);
    values.forEach((v, i) => bytes.writeUInt16LE(dtype === 'F16' ? f16Bits(v) : bf16Bits(v), 2 * i));
    header[name] = { dtype, shape, data_offsets: [offset, offset + bytes.length] };
    chunks.push(bytes);
    offset += bytes.length;
  }
  const file = path.join(dir, 'half.safetensors');
  writeRawSafetensors(file, header, Buffer.concat(chunks));
  return file;
}

test('f32 precision keeps f16 / bf16 weights half and exact (widened per tile)', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'indetail-half-'));
  const f32 = new Engine({ backend: 'cpu', precision: 'f32' });
  try {
    const [m, k, n] = [30, 70, 45];
    const wf16 = Array.from(randArray(n * k, 11, -0.5, 0.5), roundF16);
    const wbf16 = Array.from(randArray(n * k, 12, -0.5, 0.5), roundBF16);
    const file = halfHostTensors(dir, { a: { dtype: 'F16', values: wf16, shape: [n, k] }, b: { dtype: 'BF16', values: wbf16, shape: [n, k] } });
    const st = await openSafetensors(file);
    const x = randArray(m * k, 13);
    for (const [name, w, dtype] of [['a', wf16, 'f16'], ['b', wbf16, 'bf16']]) {
      const host = st.tensorRaw(name);
      const p = f32.prepareWeight(host, 'linear');
      assert.equal(p.dtype, dtype, `the ${dtype} weight stays ${dtype}`);
      const out = f32.empty([m, n]);
      f32.opSync('linear', { x: f32.tensor(x, [m, k]), w: p, out });
      assertClose(out.readSync(), linearRef(x, Float32Array.from(w), { m, k, n }), { atol: 1e-5 * Math.sqrt(k), rtol: 1e-5 }, `f32 with ${dtype} weights`);
      // the same weight in the bf16 precision: rounded to bf16
      const q = engine.prepareWeight(host, 'linear');
      assert.equal(q.dtype, 'bf16');
      assert.deepEqual(q.readSync(), Float32Array.from(w, roundBF16));
    }
    st.close();
  } finally {
    f32.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('precision is validated per backend, with a message naming the choices', () => {
  assert.throws(() => new Engine({ backend: 'cpu', precision: 'f16' }), (e) => e.code === 'ERR_INDETAIL_INVALID_ARGUMENT' && /'f32' or 'bf16'/.test(e.message) && /cpu backend/.test(e.message));
  assert.throws(() => new Engine({ backend: 'cpu', precision: 'fp8' }), /'f32' or 'bf16'/);
  const d = new Engine({ backend: 'cpu' });
  assert.equal(d.precision, 'f32');
  d.dispose();
  const a = new Engine({ backend: 'cpu', precision: 'auto' });
  assert.equal(a.precision, 'f32', "an engine's 'auto' is the device default (pipelines also weigh the model)");
  a.dispose();
  console.log(`# cpu kernels: ${buildInfo().cpuFeatures}, bf16 GEMM: ${buildInfo().cpuBf16Kernels || 'fp32 kernels on bf16-rounded operands'}`);
});
