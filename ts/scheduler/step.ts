// The DDIM update with eta 0, as a move between two noise levels ᾱ_from -> ᾱ_to:
//   x0 = (x - sqrt(1 - ᾱ_from) ε) / sqrt(ᾱ_from)              (epsilon prediction)
//   x0 = sqrt(ᾱ_from) x - sqrt(1 - ᾱ_from) v,  ε = sqrt(ᾱ_from) v + sqrt(1 - ᾱ_from) x   (v-prediction)
//   out = sqrt(ᾱ_to) x0 + sqrt(1 - ᾱ_to) ε
// Denoising (diffusers DDIMScheduler.step) goes to a less noisy level, the reference's inversion
// (`Inversion._next_step`) to a noisier one; the formula is the same. Every operation is rounded
// to float32 in the order torch evaluates it, so results match the reference bit for bit on CPU.
// The native `guidance_step` op computes the same thing on device tensors.
import { IndetailError } from '../errors.js';
import type { PredictionType } from './config.js';

const f32 = Math.fround;

export interface StepResult {
  /** The sample at the target level (diffusers `prev_sample`, the inversion's next sample). */
  sample: Float32Array;
  /** The predicted clean sample x0 (diffusers `pred_original_sample`). */
  predOriginalSample: Float32Array;
}

function checkAlpha(v: number, name: string): number {
  if (typeof v !== 'number' || !(v >= 0 && v <= 1)) {
    throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `Expected a number in [0, 1] for ${name} but received ${v}`);
  }
  return f32(v);
}

/** One DDIM (eta 0) move of `sample` from level ᾱ_from to level ᾱ_to given the model output. */
export function ddimMove(
  sample: Float32Array,
  modelOutput: Float32Array,
  alphaFrom: number,
  alphaTo: number,
  predictionType: PredictionType = 'epsilon',
): StepResult {
  if (!(sample instanceof Float32Array) || !(modelOutput instanceof Float32Array) || sample.length !== modelOutput.length) {
    throw new IndetailError(
      'ERR_INDETAIL_INVALID_ARGUMENT',
      `Expected Float32Arrays of equal length for sample and modelOutput but received lengths ${sample?.length} and ${modelOutput?.length}`,
    );
  }
  if (predictionType !== 'epsilon' && predictionType !== 'v_prediction') {
    throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `Expected 'epsilon' or 'v_prediction' for predictionType but received ${JSON.stringify(predictionType)}`);
  }
  const aFrom = checkAlpha(alphaFrom, 'alphaFrom');
  const aTo = checkAlpha(alphaTo, 'alphaTo');
  const sqrtA = f32(Math.sqrt(aFrom));
  const sqrtB = f32(Math.sqrt(f32(1 - aFrom)));
  const sqrtATo = f32(Math.sqrt(aTo));
  const sqrtBTo = f32(Math.sqrt(f32(1 - aTo)));
  const n = sample.length;
  const out = new Float32Array(n);
  const x0 = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const x = sample[i]!;
    const m = modelOutput[i]!;
    let p: number;
    let eps: number;
    if (predictionType === 'epsilon') {
      p = f32(f32(x - f32(sqrtB * m)) / sqrtA);
      eps = m;
    } else {
      p = f32(f32(sqrtA * x) - f32(sqrtB * m));
      eps = f32(f32(sqrtA * m) + f32(sqrtB * x));
    }
    x0[i] = p;
    out[i] = f32(f32(sqrtATo * p) + f32(sqrtBTo * eps));
  }
  return { sample: out, predOriginalSample: x0 };
}
