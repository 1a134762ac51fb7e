// Seeded standard normal draws: Philox4x32-10 + Box–Muller.
//
// Stream layout (fixed: changing it changes every user's images for a given seed):
//   key     = [seed mod 2^32, floor(seed / 2^32)]  (seeds are 0..2^64-1)
//   block j = philox4x32(counter [j mod 2^32, floor(j / 2^32), 0, 0], key) = [u0, u1, u2, u3]
//   normal 4j + 0, 4j + 1 = Box–Muller of (u0, u1); normal 4j + 2, 4j + 3 = Box–Muller of (u2, u3)
//   Box–Muller of (a, b): p = (a + 0.5) / 2^32, q = (b + 0.5) / 2^32  (both in (0, 1), never 0)
//     r = sqrt(-2 ln p), θ = 2π q;  z0 = r cos θ, z1 = r sin θ; each rounded to float32.
// The uint32 stream is pure integer arithmetic; Math.log/cos/sin are V8's fdlibm ports, the same
// on every platform V8 runs on, and the float32 rounding hides last-bit differences of other
// libms in all but rare cases. |z| <= sqrt(2 ln 2^33) ≈ 6.8.
import { IndetailError } from '../errors.js';
import { philox4x32 } from './philox.js';

export type Seed = number | bigint;

const TWO32 = 4294967296;
const MAX_SEED = (1n << 64n) - 1n;

/** A seed as [low 32 bits, high 32 bits]; accepts safe non-negative integers and bigints below 2^64. */
export function seedKey(seed: Seed, name = 'seed'): [number, number] {
  if (typeof seed === 'bigint') {
    if (seed < 0n || seed > MAX_SEED) {
      throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `Expected a bigint between 0 and 2^64-1 for ${name} but received ${seed}`);
    }
    return [Number(seed & 0xffffffffn), Number(seed >> 32n)];
  }
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed) || seed < 0) {
    throw new IndetailError(
      'ERR_INDETAIL_INVALID_ARGUMENT',
      `Expected a non-negative safe integer (or a bigint below 2^64) for ${name} but received ${typeof seed === 'number' ? seed : JSON.stringify(seed) ?? typeof seed}`,
    );
  }
  return [seed % TWO32, Math.floor(seed / TWO32)];
}

function checkCount(v: unknown, name: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `Expected a non-negative safe integer for ${name} but received ${v}`);
  }
  return v;
}

export interface RandnOptions {
  /** Index of the first normal in the seed's stream (default 0): draws can be split and resumed. */
  offset?: number;
}

/** `count` standard normal float32 values: normals offset .. offset + count - 1 of `seed`'s stream. */
export function randn(seed: Seed, count: number, options: RandnOptions = {}): Float32Array {
  const [k0, k1] = seedKey(seed);
  const n = checkCount(count, 'count');
  const offset = checkCount(options.offset ?? 0, 'offset');
  const out = new Float32Array(n);
  const block = new Uint32Array(4);
  const z = new Float64Array(4);
  let j = Math.floor(offset / 4);
  let lane = offset % 4;
  for (let i = 0; i < n; j++, lane = 0) {
    philox4x32(j % TWO32, Math.floor(j / TWO32), 0, 0, k0, k1, block);
    for (let p = 0; p < 4; p += 2) {
      const r = Math.sqrt(-2 * Math.log((block[p]! + 0.5) / TWO32));
      const theta = (2 * Math.PI * (block[p + 1]! + 0.5)) / TWO32;
      z[p] = r * Math.cos(theta);
      z[p + 1] = r * Math.sin(theta);
    }
    for (; lane < 4 && i < n; lane++, i++) out[i] = z[lane]!;
  }
  return out;
}
