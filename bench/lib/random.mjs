// Seeded pseudo-random inputs for benchmarks (and, through test/helpers/random.mjs, for tests):
// the same values on every run and every engine. The generators differ on purpose and are not
// interchangeable: the values a case sees depend on which one it uses.

// Uniform numbers in [0, 1) (mulberry32).
export function mulberry32(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// n values in [-1, 1) from the linear congruential generator s' = 1664525 s + 1013904223 mod 2^32.
export function lcgNoise(n, seed) {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}
