// The CPU attention op in the bf16 precision, by the rule of the CUDA parity tests: the reference
// is the naive attention in double on the fp32 inputs; the reduced-precision reference is the
// same on inputs rounded to bf16 with its output rounded to bf16. The op may differ from the
// reference by at most twice that reference's error plus one bf16 ulp at the output's scale (a
// wrong index, mode or pairing gives errors of the order of the outputs). Every image-prompt
// mode, causal masks, a K/V cache, column windows and the SD head dims; odd head dims stay fp32.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Engine } from '../dist/index.js';
import { maxAbsError } from './helpers/compare.mjs';
import { roundBF16, storageUlp } from './helpers/low-precision.mjs';
import { attentionRef, randArray } from './helpers/ops-cpu-reference.mjs';

const bf16 = new Engine({ backend: 'cpu', precision: 'bf16' });
const f32 = new Engine({ backend: 'cpu', precision: 'f32' });
let seed = 5000;

function maxAbs(a) {
  let m = 0;
  for (const x of a) m = Math.max(m, Math.abs(x));
  return m;
}

function run(engine, o, data) {
  const { b, lq, lk, heads, d } = o;
  const width = heads * d;
  const t = (x, shape) => engine.tensor(x, shape);
  const args = { q: t(data.q, [b, lq, o.qw]), k: t(data.k, [b, lk, o.kw]), v: t(data.v, [b, lk, o.vw]), out: engine.empty([b, lq, width]), heads, causal: !!o.causal, mode: o.mode ?? 'none' };
  for (const key of ['ref', 'lambdaRef', 'lambdaSelf', 'qCol', 'kCol', 'vCol']) if (o[key] !== undefined) args[key] = o[key];
  if (o.lr) Object.assign(args, { kRef: t(data.kRef, [o.r, o.lr, o.krw]), vRef: t(data.vRef, [o.r, o.lr, o.vrw]) });
  engine.opSync('attention', args);
  return args.out.readSync();
}

function check(label, o0) {
  const o = { qw: o0.heads * o0.d, kw: o0.heads * o0.d, vw: o0.heads * o0.d, ...o0 };
  const data = {
    q: randArray(o.b * o.lq * o.qw, seed++),
    k: randArray(o.b * o.lk * o.kw, seed++, -2, 2),
    v: randArray(o.b * o.lk * o.vw, seed++),
  };
  if (o.lr) {
    data.kRef = randArray(o.r * o.lr * o.krw, seed++, -2, 2);
    data.vRef = randArray(o.r * o.lr * o.vrw, seed++);
  }
  const refOpts = (x) => ({ ...o, ...(o.lr ? { kRef: x.kRef, vRef: x.vRef } : {}) });
  const want = attentionRef(data.q, data.k, data.v, refOpts(data));
  const got = run(bf16, o, data);
  const err = maxAbsError(got, want);
  if (o.d % 2) {
    assert.ok(err <= 1e-5, `${label}: an odd head dim stays fp32 (max err ${err})`);
    return;
  }
  const rounded = Object.fromEntries(Object.entries(data).map(([k, x]) => [k, x.map(roundBF16)]));
  const low = attentionRef(rounded.q, rounded.k, rounded.v, refOpts(rounded)).map(roundBF16);
  const refErr = maxAbsError(low, want);
  const tol = 2 * refErr + storageUlp.bf16 * Math.max(1, maxAbs(want));
  assert.ok(err <= tol, `${label}: max |bf16 - reference| = ${err.toExponential(3)} > ${tol.toExponential(3)} (reduced-precision reference ${refErr.toExponential(3)})`);
  assert.ok(maxAbsError(got, run(f32, o, data)) > 0, `${label}: the bf16 precision differs from f32 (it rounds)`);
  console.log(`# ${label}: max err ${err.toExponential(2)} (tol ${tol.toExponential(2)})`);
}

test('bf16 attention: SD head dims, several query blocks and key tiles, odd key counts', () => {
  check('d 40, 300 q x 251 k, 2 heads', { b: 1, lq: 300, lk: 251, heads: 2, d: 40 });
  check('d 80, 70 q x 129 k', { b: 2, lq: 70, lk: 129, heads: 1, d: 80 });
  check('d 160, 40 q x 77 k (cross-attention)', { b: 1, lq: 40, lk: 77, heads: 2, d: 160 });
  check('d 64, causal 200 (CLIP)', { b: 1, lq: 200, lk: 200, heads: 2, d: 64, causal: true });
  check('d 4, 8 heads (the tiny models)', { b: 2, lq: 64, lk: 64, heads: 8, d: 4 });
  check('d 512, one head (the VAE mid block)', { b: 1, lq: 64, lk: 64, heads: 1, d: 512 });
  check('d 5 stays fp32', { b: 1, lq: 37, lk: 37, heads: 2, d: 5 });
});

test('bf16 attention: every image-prompt mode, a K/V cache, fused QKV windows', () => {
  const ref = [-1, 0, 0, 2];
  for (const mode of ['concat', 'stratified', 'replace']) check(`${mode}, conflicting layout`, { b: 4, lq: 50, lk: 50, heads: 2, d: 40, mode, ref, lambdaRef: 0.6, lambdaSelf: 1.4 });
  check('cache, stratified', { b: 3, lq: 40, lk: 40, heads: 2, d: 40, mode: 'stratified', ref: [0, -1, 0], lr: 77, r: 1, krw: 80, vrw: 80 });
  check('fused QKV columns, concat', { b: 3, lq: 45, lk: 45, heads: 2, d: 40, qw: 240, kw: 240, vw: 240, qCol: 0, kCol: 80, vCol: 160, mode: 'concat', ref: [-1, 0, 0] });
});
