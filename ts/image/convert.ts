// Pixel conversions between u8 images and the float tensors of the pipelines. Element-wise, so
// the layout (HWC / NHWC) is kept; every operation is rounded to float32 as torch / numpy do.
//   u8 -> [-1, 1]: x / 255 * 2 - 1          (official `Inversion._encode_image`)
//   u8 -> [0, 1]:  x / 255                   (ControlNet conditioning image)
//   [-1, 1] -> u8: round(clamp(x / 2 + 0.5, 0, 1) * 255) with round half to even, as diffusers'
//                  postprocess (torch clamp, then numpy `(x * 255).round().astype("uint8")`);
//                  NaN becomes 0.
const f32 = Math.fround;

const SIGNED = new Float32Array(256).map((_, x) => f32(f32(f32(x / 255) * 2) - 1));
const UNIT = new Float32Array(256).map((_, x) => f32(x / 255));

/** u8 pixels -> float32 in [-1, 1]. */
export function u8ToFloatSigned(data: Uint8Array): Float32Array {
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = SIGNED[data[i]!]!;
  return out;
}

/** u8 pixels -> float32 in [0, 1]. */
export function u8ToFloatUnit(data: Uint8Array): Float32Array {
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = UNIT[data[i]!]!;
  return out;
}

/** numpy's round: to the nearest integer, ties to even. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Decoded float pixels in [-1, 1] (VAE output) -> u8. */
export function floatToU8(data: Float32Array): Uint8Array {
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) {
    let v = f32(f32(data[i]! / 2) + 0.5);
    if (!(v > 0)) v = 0; // also NaN
    else if (v > 1) v = 1;
    out[i] = roundHalfEven(f32(v * 255));
  }
  return out;
}
