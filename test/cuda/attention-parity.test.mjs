// CUDA attention (flash and general kernels, the benchmark's naive path) against the CPU
// attention op, for every mode, head-dim group, guidance layout, ragged lengths, causal masks,
// column windows and the K/V cache variant. Skips where there is no CUDA device.
//
// Tolerance ("twice the error of an fp16 reference implementation", with a floor): the CPU op is
// run on the fp32 inputs (the reference) and on the inputs rounded to the storage type with its
// output rounded too (the reduced-precision reference). The kernel may differ from the reference
// by at most 2 * that reference's error + one storage ulp at the output's scale; a wrong index,
// mode or weight gives errors of the order of the outputs themselves.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Engine } from '../../dist/index.js';
import { maxAbsError } from '../helpers/compare.mjs';
import { addon } from '../../dist/native/addon.js';
import { cudaSkipReason } from '../helpers/backends.mjs';
import { mulberry32 } from '../helpers/random.mjs';
import { rounder, storageUlp } from '../helpers/low-precision.mjs';

const skip = cudaSkipReason();
if (skip) console.log(skip);

// --- data -----------------------------------------------------------------------------------
function gaussian(seed, n, sd = 1) {
  const next = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(next() + 1e-12)) * sd;
    const a = 2 * Math.PI * next();
    out[i] = r * Math.cos(a);
    if (i + 1 < n) out[i + 1] = r * Math.sin(a);
  }
  return out;
}

function maxAbs(a) {
  let m = 0;
  for (const x of a) m = Math.max(m, Math.abs(x));
  return m;
}

// --- cases ----------------------------------------------------------------------------------
// layouts of a guidance batch with n = 2 samples (DESIGN.md §1):
//   conflict-free without P_neg: [P_pos, G_neg, G_neg, G_pos, G_pos]
//   conflict-free with P_neg:    [P_neg, G_neg, G_neg, P_pos, G_pos, G_pos]
//   conflicting:                 [P_neg, G_neg, G_neg, P_pos, G_pos, G_pos]
const layouts = {
  conflictFree: [-1, -1, -1, 0, 0],
  conflictFreeWithPNeg: [-1, -1, -1, -1, 3, 3],
  conflicting: [-1, 0, 0, -1, 3, 3],
};

const cases = [];
const add = (c) => cases.push({ frames: 2, heads: 2, precision: 'f16', mode: 'none', ...c });
// plain self-attention per head-dim group, ragged lengths; odd multiples of 8 (24, 120)
for (const [D, L] of [[40, 1000], [64, 300], [80, 257], [160, 130], [24, 77], [120, 200], [256, 70]]) {
  add({ name: `self-attention D=${D} L=${L}`, D, Lq: L, Lk: L });
}
add({ name: 'cross-attention D=40 Lq=300 Lk=77', D: 40, heads: 8, Lq: 300, Lk: 77 });
add({ name: 'cross-attention D=160 Lq=64 Lk=77', D: 160, Lq: 64, Lk: 77 });
add({ name: 'causal D=64 L=77 (CLIP text encoder)', D: 64, heads: 4, Lq: 77, Lk: 77, causal: true });
add({ name: 'causal D=40 L=200', D: 40, Lq: 200, Lk: 200, causal: true });
for (const mode of ['concat', 'stratified', 'replace']) {
  for (const [layout, ref] of Object.entries(layouts)) {
    for (const D of [40, 80, 160]) {
      add({ name: `${mode} ${layout} D=${D}`, D, frames: ref.length, Lq: 130, Lk: 130, mode, ref, lambdaRef: 0.6, lambdaSelf: 1.4 });
    }
  }
}
add({ name: 'stratified default lambdas D=64 L=1000', D: 64, frames: 3, Lq: 1000, Lk: 1000, mode: 'stratified', ref: [-1, -1, 0] });
add({ name: 'fused QKV column windows D=40', D: 40, heads: 4, Lq: 150, Lk: 150, fusedQkv: true });
add({ name: 'fused QKV column windows, concat D=80', D: 80, frames: 3, Lq: 150, Lk: 150, fusedQkv: true, mode: 'concat', ref: [-1, 0, 0] });
add({ name: 'cache concat Lr=77 D=40', D: 40, frames: 3, Lq: 100, Lk: 100, mode: 'concat', ref: [0, -1, 1], cache: { R: 2, Lr: 77 } });
add({ name: 'cache stratified Lr=300 D=160', D: 160, frames: 3, Lq: 64, Lk: 64, mode: 'stratified', ref: [0, -1, 0], cache: { R: 1, Lr: 300 }, lambdaRef: 0.7 });
add({ name: 'cache replace Lr=50 D=80', D: 80, frames: 2, Lq: 90, Lk: 90, mode: 'replace', ref: [0, 0], cache: { R: 1, Lr: 50 } });
// a cache next to fused QKV rows: as wide as the rows (uses kCol / vCol) or [R, Lr, C] (columns 0..C)
add({ name: 'fused QKV + narrow cache, stratified D=40', D: 40, frames: 3, Lq: 120, Lk: 120, fusedQkv: true, mode: 'stratified', ref: [0, -1, 0], cache: { R: 1, Lr: 77 } });
add({ name: 'fused QKV + fused-layout cache, concat D=64', D: 64, frames: 3, Lq: 120, Lk: 120, fusedQkv: true, mode: 'concat', ref: [0, -1, 0], cache: { R: 1, Lr: 100, wide: true } });
// causal masks the own keys only; a frame may reference itself (plain attention)
add({ name: 'causal concat with references D=64 L=77', D: 64, frames: 3, Lq: 77, Lk: 77, causal: true, mode: 'concat', ref: [-1, 0, 2] });
add({ name: 'causal stratified with references D=40 L=300', D: 40, frames: 3, Lq: 300, Lk: 300, causal: true, mode: 'stratified', ref: [-1, 0, 0] });
// general kernel: head dims of the tiny test models, unaligned windows, the VAE's 512
add({ name: 'tiny model D=4 heads=8 stratified (general kernel)', D: 4, heads: 8, frames: 6, Lq: 64, Lk: 64, mode: 'stratified', ref: layouts.conflicting });
add({ name: 'tiny model D=8 heads=4 causal (general kernel)', D: 8, heads: 4, Lq: 77, Lk: 77, causal: true });
add({ name: 'fused QKV with 5 heads of 4 (unaligned, general kernel)', D: 4, heads: 5, frames: 3, Lq: 40, Lk: 40, fusedQkv: true, mode: 'concat', ref: [-1, 0, 0] });
add({ name: 'VAE mid-block D=512 one head (general kernel)', D: 512, heads: 1, frames: 1, Lq: 256, Lk: 256 });
// bf16 storage
add({ name: 'bf16 self-attention D=40 L=500', D: 40, Lq: 500, Lk: 500, precision: 'bf16' });
add({ name: 'bf16 stratified conflicting D=80', D: 80, frames: 6, Lq: 100, Lk: 100, mode: 'stratified', ref: layouts.conflicting, precision: 'bf16' });
add({ name: 'bf16 causal D=64 L=77', D: 64, Lq: 77, Lk: 77, causal: true, precision: 'bf16' });
add({ name: 'bf16 tiny D=4 (general kernel)', D: 4, heads: 8, Lq: 64, Lk: 64, precision: 'bf16' });

// Host data of one case: q, k, v (or one fused qkv tensor) and the optional cache.
function makeInputs(c, seed) {
  const C = c.heads * c.D;
  const t = {};
  if (c.fusedQkv) {
    t.qkv = { data: gaussian(seed, c.frames * c.Lq * 3 * C), shape: [c.frames, c.Lq, 3 * C] };
  } else {
    t.q = { data: gaussian(seed, c.frames * c.Lq * C), shape: [c.frames, c.Lq, C] };
    t.k = { data: gaussian(seed + 1, c.frames * c.Lk * C, 1.3), shape: [c.frames, c.Lk, C] };
    t.v = { data: gaussian(seed + 2, c.frames * c.Lk * C), shape: [c.frames, c.Lk, C] };
  }
  if (c.cache) {
    const w = c.cache.wide ? 3 * C : C;
    t.kRef = { data: gaussian(seed + 3, c.cache.R * c.cache.Lr * w, 1.3), shape: [c.cache.R, c.cache.Lr, w] };
    t.vRef = c.cache.wide ? t.kRef : { data: gaussian(seed + 4, c.cache.R * c.cache.Lr * w), shape: [c.cache.R, c.cache.Lr, w] };
  }
  return t;
}

function opArgs(c, tensors, out) {
  const C = c.heads * c.D;
  const a = { out, heads: c.heads, mode: c.mode, causal: !!c.causal };
  if (c.ref) a.ref = c.ref;
  if (c.lambdaRef !== undefined) a.lambdaRef = c.lambdaRef;
  if (c.lambdaSelf !== undefined) a.lambdaSelf = c.lambdaSelf;
  if (c.fusedQkv) Object.assign(a, { q: tensors.qkv, k: tensors.qkv, v: tensors.qkv, qCol: 0, kCol: C, vCol: 2 * C });
  else Object.assign(a, { q: tensors.q, k: tensors.k, v: tensors.v });
  if (c.cache) Object.assign(a, { kRef: tensors.kRef, vRef: tensors.vRef });
  return a;
}

function upload(engine, host, dtype) {
  const t = {};
  for (const [name, x] of Object.entries(host)) t[name] = engine.tensor(x.data, x.shape, dtype);
  return t;
}

async function runOp(engine, c, host) {
  const tensors = upload(engine, host);
  const out = engine.empty([c.frames, c.Lq, c.heads * c.D]);
  try {
    await engine.op('attention', opArgs(c, tensors, out));
    return await out.readFloat32();
  } finally {
    for (const t of [...Object.values(tensors), out]) t.dispose();
  }
}

function nativeArgs(args) {
  const a = {};
  for (const [k, v] of Object.entries(args)) a[k] = v && typeof v === 'object' && 'native' in v ? v.native : v;
  return a;
}

// The CPU references of one case: fp32 inputs, and storage-rounded inputs with a rounded output.
async function references(cpu, c, host) {
  const want = await runOp(cpu, c, host);
  const round = rounder[c.precision];
  const rounded = {};
  for (const [name, x] of Object.entries(host)) rounded[name] = { data: x.data.map(round), shape: x.shape };
  const low = (await runOp(cpu, c, rounded)).map(round);
  const refErr = maxAbsError(low, want);
  const scale = Math.max(1, maxAbs(want));
  const tol = 2 * refErr + storageUlp[c.precision] * scale;
  return { want, refErr, tol };
}

function checkAgainst(label, got, ref) {
  const err = maxAbsError(got, ref.want);
  assert.ok(
    err <= ref.tol,
    `${label}: max |cuda - cpu| = ${err.toExponential(3)} > tolerance ${ref.tol.toExponential(3)} ` +
      `(reduced-precision reference error ${ref.refErr.toExponential(3)})`,
  );
  return err;
}

let cpu;
const gpus = {};
function engines(precision) {
  cpu ??= new Engine({ backend: 'cpu' });
  gpus[precision] ??= new Engine({ backend: 'cuda', precision });
  return { cpu, gpu: gpus[precision] };
}

for (const [i, c] of cases.entries()) {
  test(`attention parity: ${c.name}`, { skip: skip ?? false }, async () => {
    const { cpu, gpu } = engines(c.precision);
    const host = makeInputs(c, 1000 + 17 * i);
    const ref = await references(cpu, c, host);
    const got = await runOp(gpu, c, host);
    const err = checkAgainst(c.name, got, ref);
    console.log(`# ${c.name}: max err ${err.toExponential(2)} (tol ${ref.tol.toExponential(2)})`);
  });
}

// Every kernel the op can pick must agree on flash-able shapes: the default flash tile, its
// other variant (head-dim group 64 has two), and the general kernel. Also the naive path of the
// benchmark, so its timings compare like with like.
const kernelCases = [
  { name: 'D=40 stratified conflict-free', D: 40, frames: 5, Lq: 333, Lk: 333, mode: 'stratified', ref: layouts.conflictFree, lambdaRef: 0.6 },
  { name: 'D=64 concat conflicting', D: 64, frames: 6, Lq: 200, Lk: 200, mode: 'concat', ref: layouts.conflicting },
  { name: 'D=160 replace', D: 160, frames: 5, Lq: 100, Lk: 100, mode: 'replace', ref: layouts.conflictFree },
  { name: 'D=80 plain', D: 80, Lq: 250, Lk: 250, mode: 'none' },
];
for (const [i, c0] of kernelCases.entries()) {
  const c = { heads: 2, precision: 'f16', frames: 2, ...c0 };
  test(`attention kernels agree: ${c.name}`, { skip: skip ?? false }, async () => {
    const { cpu, gpu } = engines('f16');
    const host = makeInputs(c, 5000 + 31 * i);
    const ref = await references(cpu, c, host);
    const tensors = upload(gpu, host);
    const out = gpu.empty([c.frames, c.Lq, c.heads * c.D]);
    const args = nativeArgs(opArgs(c, tensors, out));
    for (const kernel of ['flash', 'flash:1', 'simple']) {
      const r = await addon().timeAttention(gpu.native, args, { kernel, warmup: 0, iterations: 1 });
      checkAgainst(`${c.name}, kernel ${kernel} (${r.kernel})`, await out.readFloat32(), ref);
    }
    const naive = await addon().naiveAttention(gpu.native, args, { warmup: 0, iterations: 1 });
    assert.ok(naive.extraBytes > 0, 'the naive path reports the memory it materialises');
    // the naive path rounds the scores and probabilities to the storage type: a looser bound
    const loose = { ...ref, tol: ref.tol + 16 * storageUlp.f16 * Math.max(1, maxAbs(ref.want)) };
    checkAgainst(`${c.name}, naive path`, await out.readFloat32(), loose);
  });
}

test('attention is deterministic (bitwise equal reruns)', { skip: skip ?? false }, async () => {
  const { gpu } = engines('f16');
  const c = { heads: 2, D: 40, frames: 5, Lq: 300, Lk: 300, mode: 'stratified', ref: layouts.conflictFree, precision: 'f16' };
  const a = await runOp(gpu, c, makeInputs(c, 77));
  const b = await runOp(gpu, c, makeInputs(c, 77));
  assert.deepEqual(a, b);
});

test('attention argument errors name the problem', { skip: skip ?? false }, async () => {
  const { gpu } = engines('f16');
  const q = gpu.tensor(gaussian(1, 2 * 16 * 64), [2, 16, 64]);
  const out = gpu.empty([2, 16, 64]);
  const expectError = async (args, pattern) =>
    assert.rejects(gpu.op('attention', { q, k: q, v: q, out, heads: 2, ...args }), (e) => {
      assert.equal(e.code, 'ERR_INDETAIL_INVALID_ARGUMENT');
      assert.match(e.message, pattern);
      return true;
    });
  await expectError({ mode: 'concat', ref: [0] }, /ref has 1 entries for 2 frames/);
  await expectError({ mode: 'concat', ref: [0, 2] }, /ref\[1\] = 2 is outside \[-1, 2\)/);
  await expectError({ qCol: 8 }, /columns \[8, 72\) of q/);
  await expectError({ heads: 3 }, /heads 3/);
  await expectError({ mode: 'stratified', ref: [-1, 0], lambdaRef: 1, lambdaSelf: -1 }, /non-zero sum/);
  const o32 = gpu.empty([2, 16, 64], 'f32');
  await assert.rejects(gpu.op('attention', { q, k: q, v: q, out: o32, heads: 2 }), /F16 or BF16/);
  await assert.rejects(gpu.op('attention', { q, k: q, v: q, out: q, heads: 2 }), /overlaps an input/);
});
