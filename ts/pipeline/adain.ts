// AdaIN of the initial noise (the reference's adain_feat): per sample and channel, the noise is
// normalised and given the mean and standard deviation of the inverted latent z_T, with unbiased
// variance (N - 1) plus 1e-5 before the square root, for both.

function channelStats(x: Float32Array, offset: number, pixels: number, channels: number, c: number): { mean: number; std: number } {
  let sum = 0;
  for (let p = 0; p < pixels; p++) sum += x[offset + p * channels + c]!;
  const mean = sum / pixels;
  let sq = 0;
  for (let p = 0; p < pixels; p++) {
    const d = x[offset + p * channels + c]! - mean;
    sq += d * d;
  }
  return { mean, std: Math.sqrt(sq / (pixels - 1) + 1e-5) };
}

/**
 * noise: NHWC [n, h, w, c]; target: NHWC [1, h, w, c] (z_T of the image prompt).
 * Returns a new array [n, h, w, c]. Statistics in float64 (the reference's float32 differs by ~1e-7).
 */
export function adain(noise: Float32Array, target: Float32Array, shape: { n: number; h: number; w: number; c: number }): Float32Array {
  const { n, h, w, c } = shape;
  const pixels = h * w;
  if (noise.length !== n * pixels * c || target.length !== pixels * c) {
    throw new RangeError(`adain: noise has ${noise.length} values and target ${target.length}; expected ${n * pixels * c} and ${pixels * c}`);
  }
  const out = new Float32Array(noise.length);
  const tStats = Array.from({ length: c }, (_, ch) => channelStats(target, 0, pixels, c, ch));
  for (let s = 0; s < n; s++) {
    const off = s * pixels * c;
    for (let ch = 0; ch < c; ch++) {
      const { mean, std } = channelStats(noise, off, pixels, c, ch);
      const t = tStats[ch]!;
      for (let p = 0; p < pixels; p++) {
        const i = off + p * c + ch;
        out[i] = ((noise[i]! - mean) / std) * t.std + t.mean;
      }
    }
  }
  return out;
}
