// Seeded RNG: Philox4x32-10 against the Random123 known-answer vectors (published with the
// algorithm, kat_vectors), and the Box–Muller normals built on it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { philox4x32, randn } from '../dist/index.js';

const hex = (u) => [...u].map((x) => x.toString(16).padStart(8, '0'));

test('philox4x32-10 matches the Random123 known-answer vectors', () => {
  assert.deepEqual(hex(philox4x32(0, 0, 0, 0, 0, 0)), ['6627e8d5', 'e169c58d', 'bc57ac4c', '9b00dbd8']);
  const f = 0xffffffff;
  assert.deepEqual(hex(philox4x32(f, f, f, f, f, f)), ['408f276d', '41c83b0e', 'a20bc7c6', '6d5451fd']);
  assert.deepEqual(
    hex(philox4x32(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0)),
    ['d16cfe09', '94fdcceb', '5001e420', '24126ea1'],
  );
});

test('randn: first normals follow from the documented layout (block 0 of the seed key, Box–Muller)', () => {
  // seed 2^32 + 5 -> key [5, 1]; normals 0..3 come from philox(counter 0, key) with Box–Muller
  const u = philox4x32(0, 0, 0, 0, 5, 1);
  const bm = (a, b) => {
    const r = Math.sqrt(-2 * Math.log((a + 0.5) / 2 ** 32));
    const t = (2 * Math.PI * (b + 0.5)) / 2 ** 32;
    return [r * Math.cos(t), r * Math.sin(t)];
  };
  const expected = Float32Array.from([...bm(u[0], u[1]), ...bm(u[2], u[3])]);
  assert.deepEqual(randn(2 ** 32 + 5, 4), expected);
  assert.deepEqual(randn(2n ** 32n + 5n, 4), expected);
});

test('randn is deterministic, seeds and offsets select different parts of the stream', () => {
  const a = randn(42, 1000);
  assert.deepEqual(randn(42, 1000), a);
  assert.deepEqual(randn(42n, 1000), a);
  const b = randn(43, 1000);
  let same = 0;
  for (let i = 0; i < 1000; i++) if (a[i] === b[i]) same++;
  assert.ok(same < 5, `${same} equal values between seeds 42 and 43`);
  // offsets continue the same stream, whatever the block alignment
  for (const offset of [1, 3, 4, 7, 500]) assert.deepEqual(randn(42, 1000 - offset, { offset }), a.subarray(offset));
  assert.deepEqual(randn(42, 0), new Float32Array(0));
  // the high 32 bits of the seed matter
  assert.notDeepEqual(randn(7, 8), randn(7 + 2 ** 32, 8));
  assert.deepEqual(randn(2n ** 64n - 1n, 4).length, 4);
});

test('randn: 1e6 draws are standard normal (mean, std, tails, no NaN)', () => {
  const n = 1_000_000;
  const z = randn(12345, n);
  let sum = 0;
  let sq = 0;
  let beyond2 = 0;
  let maxAbs = 0;
  for (let i = 0; i < n; i++) {
    const v = z[i];
    assert.ok(Number.isFinite(v), `non-finite value at ${i}`);
    sum += v;
    sq += v * v;
    if (Math.abs(v) > 2) beyond2++;
    maxAbs = Math.max(maxAbs, Math.abs(v));
  }
  const mean = sum / n;
  const std = Math.sqrt(sq / n - mean * mean);
  // standard errors: mean 0.001, std 0.0007, P(|z| > 2) = 0.0455 +- 0.0002
  assert.ok(Math.abs(mean) < 0.005, `mean ${mean}`);
  assert.ok(Math.abs(std - 1) < 0.005, `std ${std}`);
  assert.ok(Math.abs(beyond2 / n - 0.0455) < 0.002, `P(|z| > 2) = ${beyond2 / n}`);
  assert.ok(maxAbs > 4 && maxAbs < 7, `max |z| ${maxAbs}`);
});

test('randn refuses bad seeds and counts', () => {
  for (const seed of [-1, 1.5, 2 ** 53, NaN, '42', null, -1n, 2n ** 64n]) {
    assert.throws(() => randn(seed, 4), (e) => e.code === 'ERR_INDETAIL_INVALID_ARGUMENT' && /seed/.test(e.message), `seed ${String(seed)}`);
  }
  assert.throws(() => randn(1, -1), /count/);
  assert.throws(() => randn(1, 4, { offset: 0.5 }), /offset/);
});
