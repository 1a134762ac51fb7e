// The CPU attention op against a naive JavaScript reference: every image-prompt mode with mixed
// ref arrays (-1, itself, other frames), causal masks, fused-QKV column windows, a K/V cache with
// its own length, cross-attention (Lk = 77), the SD head dimensions, and sizes that are not
// multiples of the kernel's tiles (sub-blocks of 32 / 16 / 8 queries per ISA, tasks of 4 to 32
// sub-blocks depending on the head dimension: 256 queries for d = 160 on AVX-512; key tiles of 120).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Engine } from '../dist/index.js';
import { assertClose } from './helpers/compare.mjs';
import { attentionRef, randArray } from './helpers/ops-cpu-reference.mjs';

const engine = new Engine({ backend: 'cpu' });
let seed = 1000;

// Runs one attention call on random q/k/v (and cache) and compares with the reference.
function check(label, o) {
  const { b, lq, lk, heads, d } = o;
  const width = heads * d;
  const qw = o.qw ?? width;
  const kw = o.kw ?? width;
  const vw = o.vw ?? width;
  const q = randArray(b * lq * qw, seed++);
  const k = o.sameQkv ? q : randArray(b * lk * kw, seed++);
  const v = o.sameQkv ? q : randArray(b * lk * vw, seed++);
  const args = {
    q: engine.tensor(q, [b, lq, qw]),
    k: engine.tensor(k, [b, lk, kw]),
    v: engine.tensor(v, [b, lk, vw]),
    out: engine.empty([b, lq, width]),
    heads,
    causal: o.causal ?? false,
    mode: o.mode ?? 'none',
    qCol: o.qCol ?? 0,
    kCol: o.kCol ?? 0,
    vCol: o.vCol ?? 0,
  };
  if (o.ref) args.ref = o.ref;
  if (o.lambdaRef !== undefined) args.lambdaRef = o.lambdaRef;
  if (o.lambdaSelf !== undefined) args.lambdaSelf = o.lambdaSelf;
  const refOpts = { ...o, qw, kw, vw };
  if (o.lr) {
    const kRef = randArray(o.r * o.lr * o.krw, seed++);
    const vRef = o.sharedCache ? kRef : randArray(o.r * o.lr * o.vrw, seed++);
    args.kRef = engine.tensor(kRef, [o.r, o.lr, o.krw]);
    args.vRef = o.sharedCache ? args.kRef : engine.tensor(vRef, [o.r, o.lr, o.vrw]);
    Object.assign(refOpts, { kRef, vRef });
  }
  engine.opSync('attention', args);
  const got = args.out.readSync();
  const want = attentionRef(q, k, v, refOpts);
  assertClose(got, want, { atol: 1e-5, rtol: 1e-5 }, label);
}

test('plain attention matches the reference on odd sizes', () => {
  check('2 frames, 37 tokens, 2 heads of 5', { b: 2, lq: 37, lk: 37, heads: 2, d: 5 });
  check('one token', { b: 1, lq: 1, lk: 1, heads: 1, d: 3 });
});

test('several query blocks and key tiles (online softmax across tiles)', () => {
  check('300 queries x 250 keys', { b: 1, lq: 300, lk: 250, heads: 1, d: 8 });
  check('600 queries x 50 keys, d 80 (two or more query tasks on every ISA)', { b: 1, lq: 600, lk: 50, heads: 1, d: 80 });
  check('130 queries x 121 keys, 2 heads', { b: 2, lq: 130, lk: 121, heads: 2, d: 7 });
});

test('the SD head dimensions 40, 80 and 160', () => {
  check('d 40', { b: 1, lq: 70, lk: 130, heads: 2, d: 40 });
  check('d 80', { b: 1, lq: 33, lk: 65, heads: 1, d: 80 });
  check('d 160', { b: 2, lq: 20, lk: 41, heads: 1, d: 160, mode: 'stratified', ref: [1, 0] });
});

test('cross-attention with 77 keys', () => {
  check('Lq 40, Lk 77', { b: 2, lq: 40, lk: 77, heads: 2, d: 8 });
  check('Lq 64, Lk 77, d 40', { b: 1, lq: 64, lk: 77, heads: 8, d: 40 });
});

test('causal attention (CLIP) within and across query blocks', () => {
  check('77 tokens, 3 heads', { b: 2, lq: 77, lk: 77, heads: 3, d: 4, causal: true });
  check('600 tokens', { b: 1, lq: 600, lk: 600, heads: 1, d: 4, causal: true });
  check('280 tokens, d 160 (causal across query tasks)', { b: 1, lq: 280, lk: 280, heads: 1, d: 160, causal: true });
});

test('every image-prompt mode with a mixed ref array', () => {
  const base = { b: 5, lq: 33, lk: 33, heads: 2, d: 6, ref: [-1, 0, 0, 3, 3] };
  check('none ignores ref', { ...base, mode: 'none' });
  check('concat', { ...base, mode: 'concat' });
  check('stratified', { ...base, mode: 'stratified' });
  check('stratified 0.7 / 1.3', { ...base, mode: 'stratified', lambdaRef: 0.7, lambdaSelf: 1.3 });
  check('replace', { ...base, mode: 'replace' });
  check('empty ref = no reference', { b: 2, lq: 9, lk: 9, heads: 1, d: 4, mode: 'concat' });
});

test('column windows of a fused QKV projection', () => {
  const heads = 2;
  const d = 5;
  const c = heads * d;
  const o = { b: 3, lq: 21, lk: 21, heads, d, qw: 3 * c, kw: 3 * c, vw: 3 * c, sameQkv: true, qCol: 0, kCol: c, vCol: 2 * c };
  check('fused qkv, plain', o);
  check('fused qkv, stratified', { ...o, mode: 'stratified', ref: [-1, 0, 0], lambdaRef: 0.5, lambdaSelf: 1.5 });
  check('fused qkv, concat', { ...o, mode: 'concat', ref: [2, 2, -1] });
});

test('a K/V cache with its own length (k_ref / v_ref)', () => {
  const base = { b: 3, lq: 30, lk: 30, heads: 2, d: 4, r: 2, lr: 50, krw: 8, vrw: 8 };
  check('cache, concat', { ...base, mode: 'concat', ref: [1, -1, 0] });
  check('cache, stratified', { ...base, mode: 'stratified', ref: [0, 1, 0], lambdaRef: 2, lambdaSelf: 1 });
  check('cache, replace', { ...base, mode: 'replace', ref: [0, 0, -1] });
  // frame 0 of the cache is a different tensor: ref[b] = b must still read the cache
  check('cache, ref = own index', { ...base, mode: 'concat', ref: [0, 1, -1] });
  check('cache of 77 keys for 77 own keys', { b: 2, lq: 16, lk: 77, heads: 1, d: 8, r: 1, lr: 77, krw: 8, vrw: 8, mode: 'concat', ref: [0, 0] });
  // a cache as wide as the fused qkv rows is read through the same column windows
  const c = 8;
  check('wide cache with column windows', {
    b: 2, lq: 12, lk: 12, heads: 2, d: 4, qw: 3 * c, kw: 3 * c, vw: 3 * c, sameQkv: true, qCol: 0, kCol: c, vCol: 2 * c,
    r: 1, lr: 19, krw: 3 * c, vrw: 3 * c, sharedCache: true, krCol: c, vrCol: 2 * c, mode: 'stratified', ref: [0, -1],
  });
});

test('attention refuses inconsistent arguments with messages naming the op', () => {
  const q = engine.empty([2, 5, 8]);
  const k = engine.empty([2, 6, 8]);
  const v = engine.empty([2, 6, 8]);
  const out = engine.empty([2, 5, 8]);
  const bad = (args, re) =>
    assert.throws(
      () => engine.opSync('attention', { q, k, v, out, heads: 2, ...args }),
      (err) => err.code === 'ERR_INDETAIL_INVALID_ARGUMENT' && /^attention: /.test(err.message) && re.test(err.message),
    );
  bad({ heads: 3 }, /heads 3 must divide/);
  bad({ mode: 'concat', ref: [0] }, /ref has 1 entries but q has 2 frames/);
  bad({ mode: 'concat', ref: [0, 2] }, /ref\[1\] = 2 is not a frame/);
  bad({ v: engine.empty([2, 7, 8]) }, /same length/);
  bad({ k: engine.empty([1, 6, 8]) }, /same number of frames/);
  bad({ kCol: 4 }, /has no columns \[4, 12\)/);
  bad({ out: engine.empty([2, 4, 8]) }, /out must have shape \[2, 5, 8\]/);
  bad({ mode: 'stratified', ref: [1, 0], lambdaRef: 1, lambdaSelf: -1 }, /lambda_ref \+ lambda_self/);
  bad({ kRef: engine.empty([1, 4, 8]) }, /k_ref and v_ref must be given together/);
});
