// Seeded pseudo-random test data. The generators differ on purpose and are not interchangeable:
// a test's inputs (and so what it checks) depend on which one it uses.
export { lcgNoise, mulberry32 } from '../../bench/lib/random.mjs';

// n values in [-1, 1) from a 32-bit xorshift (13, 17, 5); seed 0 counts as 1.
export function xorshiftNoise(n, seed) {
  let s = seed >>> 0 || 1;
  return Float32Array.from({ length: n }, () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 31 - 1;
  });
}
