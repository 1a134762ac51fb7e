// Inference timesteps as diffusers' DDIMScheduler.set_timesteps (v0.26.2) computes them with numpy:
//   leading:  arange(0, n) * (T // n), reversed, + steps_offset
//   trailing: round(arange(T, 0, -T / n)) - 1
//   linspace: round(linspace(0, T - 1, n)), reversed
// numpy rounds half to even; arange with a float step fills start + i * ((start + step) - start).
import { IndetailError } from '../errors.js';
import type { SchedulerConfig } from './config.js';

function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export function checkInferenceSteps(steps: unknown, numTrainTimesteps: number, name = 'steps'): number {
  if (typeof steps !== 'number' || !Number.isInteger(steps) || steps < 1 || steps > numTrainTimesteps) {
    throw new IndetailError(
      'ERR_INDETAIL_INVALID_ARGUMENT',
      `Expected an integer between 1 and ${numTrainTimesteps} (num_train_timesteps) for ${name} but received ${JSON.stringify(steps)}`,
    );
  }
  return steps;
}

/** Denoising timesteps, most noisy first (e.g. 981, 961, ..., 1 for SD1.5 with 50 steps). */
export function inferenceTimesteps(config: SchedulerConfig, steps: number): Int32Array {
  const T = config.numTrainTimesteps;
  const n = checkInferenceSteps(steps, T);
  let ts: number[];
  if (config.timestepSpacing === 'leading') {
    const ratio = Math.floor(T / n);
    ts = Array.from({ length: n }, (_, i) => (n - 1 - i) * ratio + config.stepsOffset);
  } else if (config.timestepSpacing === 'trailing') {
    const step = -(T / n);
    const length = Math.ceil(-T / step);
    const delta = T + step - T;
    ts = Array.from({ length }, (_, i) => roundHalfEven(i === 0 ? T : i === 1 ? T + step : T + i * delta) - 1);
  } else {
    const step = n > 1 ? (T - 1) / (n - 1) : 0;
    ts = Array.from({ length: n }, (_, i) => roundHalfEven(i === n - 1 && n > 1 ? T - 1 : i * step)).reverse();
  }
  for (const t of ts) {
    if (!(t >= 0 && t < T)) {
      throw new IndetailError(
        'ERR_INDETAIL_INVALID_ARGUMENT',
        config.timestepSpacing === 'leading'
          ? `leading spacing with steps_offset ${config.stepsOffset} gives timestep ${t} for ${n} steps, outside 0..${T - 1}`
          : `${config.timestepSpacing} spacing gives ${ts.length} timesteps including ${t} for ${n} steps (numpy rounding, as in diffusers); choose another step count`,
      );
    }
  }
  return Int32Array.from(ts);
}
