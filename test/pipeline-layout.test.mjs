// The per-step batch layout and AdaIN, against the reference's semantics (fixtures README).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { adain } from '../dist/pipeline/adain.js';
import { batchLayout, controlRowScales, stepAttentionMode } from '../dist/pipeline/layout.js';
import { openSafetensorsSync } from '../dist/index.js';
import { assertClose } from './helpers/compare.mjs';
import { fixturePath } from './helpers/fixtures.mjs';
import { nchwToNhwc, nhwcToNchw } from './helpers/layout.mjs';

test('conflicting guidance is the reference layout: negatives see P⁻, positives P⁺', () => {
  const l = batchLayout(2, 'conflicting');
  assert.deepEqual(l.rows.map((r) => `${r.branch[0]}${r.frame}`), ['u0', 'u1', 'u2', 'c0', 'c1', 'c2']);
  assert.deepEqual(l.ref, [-1, 0, 0, -1, 3, 3]);
  assert.deepEqual(l.uncondRow, [0, 1, 2]);
  assert.deepEqual(l.condRow, [3, 4, 5]);
});

test('conflict-free guidance drops P⁻; only positive rows see P⁺', () => {
  const l = batchLayout(3, 'conflict-free');
  assert.deepEqual(l.rows.map((r) => `${r.branch[0]}${r.frame}`), ['u1', 'u2', 'u3', 'c0', 'c1', 'c2', 'c3']);
  assert.deepEqual(l.ref, [-1, -1, -1, -1, 3, 3, 3]);
  assert.deepEqual(l.uncondRow, [-1, 0, 1, 2]);
  assert.deepEqual(l.condRow, [3, 4, 5, 6]);
  const full = batchLayout(2, 'conflict-free', true);
  assert.deepEqual(full.ref, [-1, -1, -1, -1, 3, 3], 'with P⁻ kept, the reference layout with plain negatives');
});

test('stratified for the first K steps, then KV concatenation', () => {
  assert.deepEqual([0, 1, 2, 3, 9].map((i) => stepAttentionMode('stratified', i, 3)), ['stratified', 'stratified', 'stratified', 'concat', 'concat']);
  assert.equal(stepAttentionMode('replace', 0, 3), 'replace');
  assert.equal(stepAttentionMode('none', 0, 3), 'none');
});

test('ControlNet residual masking follows the official rule', () => {
  const l = batchLayout(2, 'conflicting');
  assert.deepEqual(controlRowScales(l, 0, 2), [0, 0, 0, 0, 1, 1]);
  assert.deepEqual(controlRowScales(l, 2, 2), [0, 1, 1, 0, 1, 1]);
});

test('AdaIN reproduces the reference initial latents of pipe_imgvar_cond', () => {
  const g = openSafetensorsSync(fixturePath('golden', 'pipe_imgvar_cond.safetensors'));
  const noise = g.tensor('initial_noise');
  const [n, c, h, w] = noise.shape;
  const xt = nchwToNhwc(g.tensor('x_t').readSync(), [1, c, h, w]);
  const out = adain(nchwToNhwc(noise.readSync(), [n, c, h, w]), xt, { n, h, w, c });
  const want = g.tensor('initial_latents').readSync().subarray(c * h * w); // rows 1..N (row 0 is x_t)
  assertClose(nhwcToNchw(out, [n, h, w, c]), want, { atol: 1e-5, rtol: 1e-5 }, 'initial_latents');
});
