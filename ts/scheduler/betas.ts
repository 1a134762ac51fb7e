// Noise levels (betas, alphas_cumprod) computed with the same float32 arithmetic as diffusers on
// torch's CPU kernels, so the values agree bit for bit (checked against the reference's stored
// alphas_cumprod: 0 of 1000 values differ).
//
// * torch.linspace(start, end, n, dtype=float32) on CPU (ATen `linspace_kernel`): start, end and
//   step = (end - start) / (n - 1) in float32; elements below n/2 count from start, the others
//   from end. The vectorised (AVX2, 8 lanes) loop computes each chunk's base as
//   `start + step * idx` (or `end - step * (n - idx - 1)`) with a fused multiply-add, chosen by the
//   chunk's first index, then lane k = base + k * step; the tail (n mod 16 elements) is scalar.
//   Both FMA contractions are reproduced by rounding the exact double result once to float32.
// * `** 2`, `1 - betas`: float32. torch.cumprod on CPU accumulates in float64 and stores float32.
import type { SchedulerConfig } from './config.js';

const f32 = Math.fround;
const LANES = 8;

/** torch.linspace(start, end, n, dtype=torch.float32) as computed by torch's CPU kernel. */
export function torchLinspaceF32(start: number, end: number, n: number): Float32Array {
  const out = new Float32Array(n);
  if (n === 1) {
    out[0] = f32(start);
    return out;
  }
  const s = f32(start);
  const e = f32(end);
  const step = f32(f32(e - s) / (n - 1));
  const half = Math.floor(n / 2);
  // One rounding of the exact value = a fused multiply-add (the products are exact in double).
  const at = (i: number): number => (i < half ? f32(s + step * i) : f32(e - step * (n - i - 1)));
  let i = 0;
  for (; i + 2 * LANES <= n; i += 2 * LANES) {
    for (const c of [i, i + LANES]) {
      const base = at(c);
      for (let k = 0; k < LANES; k++) out[c + k] = f32(base + f32(k * step));
    }
  }
  for (; i < n; i++) out[i] = at(i);
  return out;
}

// diffusers betas_for_alpha_bar(n, alpha_transform_type="cosine"), float64, then float32.
function squaredCosineBetas(n: number): Float32Array {
  const alphaBar = (t: number): number => Math.cos(((t + 0.008) / 1.008) * Math.PI / 2) ** 2;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.min(1 - alphaBar((i + 1) / n) / alphaBar(i / n), 0.999);
  return out;
}

function cumprodF32(alphas: Float32Array): Float32Array {
  const out = new Float32Array(alphas.length);
  let acc = 1;
  for (let i = 0; i < alphas.length; i++) {
    acc *= alphas[i]!;
    out[i] = acc;
  }
  return out;
}

// diffusers rescale_zero_terminal_snr (arXiv 2305.08891, Algorithm 1), float32 tensor ops.
function rescaleZeroTerminalSnr(betas: Float32Array): Float32Array {
  const n = betas.length;
  const cum = cumprodF32(betas.map((b) => f32(1 - b)));
  const sqrtBar = cum.map((a) => f32(Math.sqrt(a)));
  const first = sqrtBar[0]!;
  const last = sqrtBar[n - 1]!;
  const scale = f32(first / f32(first - last));
  const bar = sqrtBar.map((v) => {
    const r = f32(f32(v - last) * scale);
    return f32(r * r);
  });
  const out = new Float32Array(n);
  out[0] = f32(1 - bar[0]!);
  for (let i = 1; i < n; i++) out[i] = f32(1 - f32(bar[i]! / bar[i - 1]!));
  return out;
}

export function computeBetas(config: SchedulerConfig): Float32Array {
  const n = config.numTrainTimesteps;
  let betas: Float32Array;
  if (config.trainedBetas) {
    betas = Float32Array.from(config.trainedBetas);
  } else if (config.betaSchedule === 'linear') {
    betas = torchLinspaceF32(config.betaStart, config.betaEnd, n);
  } else if (config.betaSchedule === 'scaled_linear') {
    betas = torchLinspaceF32(Math.sqrt(config.betaStart), Math.sqrt(config.betaEnd), n).map((b) => f32(b * b));
  } else {
    betas = squaredCosineBetas(n);
  }
  return config.rescaleBetasZeroSnr ? rescaleZeroTerminalSnr(betas) : betas;
}

/** alphas_cumprod (ᾱ_t for t = 0..T-1) exactly as diffusers stores them (float32). */
export function computeAlphasCumprod(config: SchedulerConfig): Float32Array {
  const betas = computeBetas(config);
  return cumprodF32(betas.map((b) => f32(1 - b)));
}
