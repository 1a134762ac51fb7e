// Array comparison shared by benchmarks and (through test/helpers/compare.mjs) tests.

// The largest |a[i] - b[i]|; a NaN difference counts as Infinity, so it can never pass a bound.
// Arrays of different lengths are an error (an empty or short result must not pass).
export function maxAbsError(a, b) {
  if (a.length !== b.length) throw new RangeError(`maxAbsError: lengths differ (${a.length} vs ${b.length})`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}
