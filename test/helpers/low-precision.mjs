// Rounding to the half-precision storage types (round to nearest even), as plain JavaScript: the
// oracle of the reduced-precision tests (CUDA parity, the CPU bf16 tier).
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The bf16 bits of x (round to nearest even; NaN stays a quiet NaN). */
export function bf16Bits(x) {
  f32[0] = x;
  const b = u32[0];
  if ((b & 0x7fffffff) > 0x7f800000) return (b >>> 16) | 0x40;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

/** x rounded to bf16, as a number. */
export function roundBF16(x) {
  u32[0] = bf16Bits(x) << 16;
  return f32[0];
}

/** x rounded to IEEE half precision (ties to even, overflow to infinity), as a number. */
export function roundF16(x) {
  if (!Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  if (a >= 65520) return Math.sign(x) * Infinity;
  const e = Math.max(Math.floor(Math.log2(a)), -14);
  const ulp = 2 ** (e - 10);
  const q = a / ulp;
  let r = Math.round(q);
  if (Math.abs(q - Math.trunc(q) - 0.5) < 1e-12) r = 2 * Math.round(q / 2); // ties to even
  return Math.sign(x) * r * ulp;
}

/** The IEEE half bits of a number already representable in half precision (NaN: a quiet NaN). */
export function f16Bits(x) {
  if (Number.isNaN(x)) return 0x7e00;
  if (x === 0) return Object.is(x, -0) ? 0x8000 : 0;
  const sign = x < 0 ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a === Infinity) return sign | 0x7c00;
  if (a < 2 ** -14) return sign | Math.round(a / 2 ** -24);
  const e = Math.floor(Math.log2(a));
  return sign | ((e + 15) << 10) | Math.round((a / 2 ** e - 1) * 1024);
}

export const rounder = { f16: roundF16, bf16: roundBF16 };
/** Relative spacing of the storage types near 1 (half an ulp is the rounding error bound). */
export const storageUlp = { f16: 2 ** -10, bf16: 2 ** -7 };
