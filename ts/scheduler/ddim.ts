// DDIM (eta 0) schedule: noise levels, the denoising steps and the reference's inversion steps.
// Each step is a move between two noise levels (alphaFrom -> alphaTo); those scalars and the UNet
// timestep are what the native `guidance_step` op takes (GuidanceStepParams in engine/backend.h).
import { IndetailError } from '../errors.js';
import { computeAlphasCumprod } from './betas.js';
import { REFERENCE_DDIM_CONFIG, loadSchedulerConfig, type SchedulerConfig } from './config.js';
import { ddimMove, type StepResult } from './step.js';
import { checkInferenceSteps, inferenceTimesteps } from './timesteps.js';

export interface DenoisingStep {
  /** Step index i (0 = most noisy). */
  index: number;
  /** The UNet timestep t (diffusers `timesteps[i]`). */
  timestep: number;
  /** t - T // steps; negative for the last step, which then goes to `finalAlphaCumprod`. */
  prevTimestep: number;
  /** ᾱ_t. */
  alphaFrom: number;
  /** ᾱ_prev, or finalAlphaCumprod when prevTimestep < 0. */
  alphaTo: number;
}

export interface InversionStep {
  /** Step index i of the inversion loop (0 = least noisy). */
  index: number;
  /** The UNet timestep = the target level t (`timesteps` reversed: 1, 101, ..., 901 for 10 steps). */
  timestep: number;
  /** min(t - T // steps, T - 1); negative for the first step, which starts from `finalAlphaCumprod`. */
  fromTimestep: number;
  /** ᾱ of fromTimestep (finalAlphaCumprod when negative). */
  alphaFrom: number;
  /** ᾱ_t. */
  alphaTo: number;
}

export class DDIMScheduler {
  readonly config: Readonly<SchedulerConfig>;
  /** ᾱ_t for t = 0..T-1, float32 as diffusers computes them. */
  readonly alphasCumprod: Float32Array;
  /** The level after the last step: 1 with set_alpha_to_one, else ᾱ_0. */
  readonly finalAlphaCumprod: number;

  constructor(config: SchedulerConfig = REFERENCE_DDIM_CONFIG) {
    this.config = Object.freeze({ ...config });
    this.alphasCumprod = computeAlphasCumprod(this.config);
    this.finalAlphaCumprod = this.config.setAlphaToOne ? 1 : this.alphasCumprod[0]!;
  }

  /** From a diffusers scheduler_config.json (validated). */
  static async fromConfigFile(path: string): Promise<DDIMScheduler> {
    return new DDIMScheduler(await loadSchedulerConfig(path));
  }

  get numTrainTimesteps(): number {
    return this.config.numTrainTimesteps;
  }

  /** ᾱ at a training timestep; negative timesteps mean `finalAlphaCumprod`. */
  alphaAt(timestep: number): number {
    if (!Number.isInteger(timestep) || timestep >= this.numTrainTimesteps) {
      throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `Expected an integer below ${this.numTrainTimesteps} for timestep but received ${timestep}`);
    }
    return timestep >= 0 ? this.alphasCumprod[timestep]! : this.finalAlphaCumprod;
  }

  /** Denoising timesteps, most noisy first. */
  timesteps(steps: number): Int32Array {
    return inferenceTimesteps(this.config, steps);
  }

  /** The denoising steps (diffusers DDIMScheduler.step), most noisy first. */
  denoisingSteps(steps: number): DenoisingStep[] {
    const ratio = Math.floor(this.numTrainTimesteps / steps);
    return Array.from(this.timesteps(steps), (t, index) => ({
      index,
      timestep: t,
      prevTimestep: t - ratio,
      alphaFrom: this.alphaAt(t),
      alphaTo: this.alphaAt(t - ratio),
    }));
  }

  /** The reference's inversion steps (official `Inversion._ddim_loop` / `_next_step`), least noisy first. */
  inversionSteps(steps: number): InversionStep[] {
    const ratio = Math.floor(this.numTrainTimesteps / steps);
    return Array.from(this.timesteps(steps).reverse(), (t, index) => {
      const from = Math.min(t - ratio, this.numTrainTimesteps - 1);
      return { index, timestep: t, fromTimestep: from, alphaFrom: this.alphaAt(from), alphaTo: this.alphaAt(t) };
    });
  }

  /** diffusers DDIMScheduler.step(model_output, timestep, sample) with eta 0, on host arrays. */
  ddimStep(modelOutput: Float32Array, timestep: number, sample: Float32Array, steps: number): StepResult {
    checkInferenceSteps(steps, this.numTrainTimesteps);
    this.checkTimestep(timestep);
    const prev = timestep - Math.floor(this.numTrainTimesteps / steps);
    return ddimMove(sample, modelOutput, this.alphaAt(timestep), this.alphaAt(prev), this.config.predictionType);
  }

  /** The reference's `Inversion._next_step(model_output, timestep, sample)`: from level t - T//steps up to t. */
  inversionStep(modelOutput: Float32Array, timestep: number, sample: Float32Array, steps: number): Float32Array {
    checkInferenceSteps(steps, this.numTrainTimesteps);
    this.checkTimestep(timestep);
    const from = Math.min(timestep - Math.floor(this.numTrainTimesteps / steps), this.numTrainTimesteps - 1);
    return ddimMove(sample, modelOutput, this.alphaAt(from), this.alphaAt(timestep), this.config.predictionType).sample;
  }

  private checkTimestep(t: number): void {
    if (!Number.isInteger(t) || t < 0 || t >= this.numTrainTimesteps) {
      throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `Expected an integer between 0 and ${this.numTrainTimesteps - 1} for timestep but received ${t}`);
    }
  }
}
