// Numeric comparisons with messages that say where and by how much two arrays differ.
import assert from 'node:assert/strict';

export { maxAbsError } from '../../bench/lib/compare.mjs';

// |a - e| <= atol + rtol * |e| for every element; reports the worst element when it fails.
export function assertClose(actual, expected, { atol = 0, rtol = 0 } = {}, label = 'tensor') {
  assert.equal(actual.length, expected.length, `${label}: length ${actual.length} != expected ${expected.length}`);
  const s = closeness(actual, expected, { atol, rtol });
  assert.ok(
    s.violations === 0,
    `${label}: ${s.violations} of ${expected.length} values outside atol ${atol} + rtol ${rtol}; ` +
      `worst at index ${s.worstIndex}: got ${actual[s.worstIndex]}, expected ${expected[s.worstIndex]} ` +
      `(max abs error ${s.maxAbs.toExponential(3)})`,
  );
  return s;
}

export function closeness(actual, expected, { atol = 0, rtol = 0 } = {}) {
  let maxAbs = 0;
  let violations = 0;
  let worstIndex = 0;
  let worstExcess = -Infinity;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    const d = Math.abs(a - e);
    const bound = atol + rtol * Math.abs(e);
    if (!(d <= bound)) violations++;
    if (d > maxAbs || Number.isNaN(d)) maxAbs = Number.isNaN(d) ? Infinity : d;
    const excess = Number.isNaN(d) ? Infinity : d - bound;
    if (excess > worstExcess) {
      worstExcess = excess;
      worstIndex = i;
    }
  }
  return { maxAbs, violations, worstIndex };
}

export function maxAbsDiff(a, b) {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Bitwise comparison; max abs difference and count of differing values for the diagnostics. */
export function sameBits(a, b) {
  assert.equal(a.length, b.length);
  let maxAbs = 0, differ = 0;
  for (let i = 0; i < a.length; i++) {
    if (Object.is(a[i], b[i])) continue;
    differ++;
    maxAbs = Math.max(maxAbs, Math.abs(a[i] - b[i]));
  }
  return { equal: differ === 0, maxAbs, differ };
}
