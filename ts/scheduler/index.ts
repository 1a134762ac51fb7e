export { computeAlphasCumprod, computeBetas, torchLinspaceF32 } from './betas.js';
export {
  REFERENCE_DDIM_CONFIG,
  loadSchedulerConfig,
  referenceDdimConfig,
  parseSchedulerConfig,
  type BetaSchedule,
  type PredictionType,
  type SchedulerConfig,
  type TimestepSpacing,
} from './config.js';
export { DDIMScheduler, type DenoisingStep, type InversionStep } from './ddim.js';
export { ddimMove, type StepResult } from './step.js';
export { inferenceTimesteps } from './timesteps.js';
