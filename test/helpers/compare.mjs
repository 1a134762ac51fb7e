// Numeric comparisons with messages that say where and by how much two arrays differ. Every one
// fails when the lengths differ: an empty or truncated result never passes a bound.
import assert from 'node:assert/strict';
import { maxAbsError } from '../../bench/lib/compare.mjs';

export { maxAbsError };

function sameLength(a, b, label = 'arrays') {
  assert.ok(a && b && typeof a.length === 'number' && typeof b.length === 'number', `${label}: not arrays`);
  assert.equal(a.length, b.length, `${label}: length ${a.length} != expected ${b.length}`);
  assert.ok(b.length > 0, `${label}: nothing to compare (empty)`);
}

// |a - e| <= atol + rtol * |e| for every element; reports the worst element when it fails.
export function assertClose(actual, expected, { atol = 0, rtol = 0 } = {}, label = 'tensor') {
  const s = closeness(actual, expected, { atol, rtol }, label);
  assert.ok(
    s.violations === 0,
    `${label}: ${s.violations} of ${expected.length} values outside atol ${atol} + rtol ${rtol}; ` +
      `worst at index ${s.worstIndex}: got ${actual[s.worstIndex]}, expected ${expected[s.worstIndex]} ` +
      `(max abs error ${s.maxAbs.toExponential(3)})`,
  );
  return s;
}

export function closeness(actual, expected, { atol = 0, rtol = 0 } = {}, label = 'tensor') {
  sameLength(actual, expected, label);
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
  sameLength(a, b);
  return maxAbsError(a, b);
}

/** Bitwise comparison; max abs difference and count of differing values for the diagnostics. */
export function sameBits(a, b) {
  sameLength(a, b);
  let maxAbs = 0, differ = 0;
  for (let i = 0; i < a.length; i++) {
    if (Object.is(a[i], b[i])) continue;
    differ++;
    maxAbs = Math.max(maxAbs, Math.abs(a[i] - b[i]));
  }
  return { equal: differ === 0, maxAbs, differ };
}
