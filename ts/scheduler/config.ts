// DDIM scheduler configuration: a diffusers `scheduler/scheduler_config.json`, validated.
// Missing keys take diffusers' DDIMScheduler defaults (as `DDIMScheduler.from_config` does); keys of
// other scheduler classes (`skip_prk_steps`, ...) and `_`-prefixed keys are ignored. Values this
// implementation cannot honour are refused by name rather than silently changed.
import { IndetailError } from '../errors.js';
import { MAX_CONFIG_FILE_BYTES, readRegularTextFile } from '../files/input-file.js';

export type BetaSchedule = 'linear' | 'scaled_linear' | 'squaredcos_cap_v2';
export type PredictionType = 'epsilon' | 'v_prediction';
export type TimestepSpacing = 'leading' | 'trailing' | 'linspace';

export interface SchedulerConfig {
  numTrainTimesteps: number;
  betaStart: number;
  betaEnd: number;
  betaSchedule: BetaSchedule;
  /** Explicit betas (diffusers `trained_betas`); overrides the schedule when set. */
  trainedBetas: number[] | null;
  setAlphaToOne: boolean;
  stepsOffset: number;
  predictionType: PredictionType;
  timestepSpacing: TimestepSpacing;
  rescaleBetasZeroSnr: boolean;
}

/**
 * The scheduler the reference code builds (official `init_ip_model`, whatever the checkpoint ships):
 * `DDIMScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
 * beta_schedule="scaled_linear", clip_sample=False, set_alpha_to_one=False, steps_offset=1)`.
 */
export const REFERENCE_DDIM_CONFIG: Readonly<SchedulerConfig> = Object.freeze({
  numTrainTimesteps: 1000,
  betaStart: 0.00085,
  betaEnd: 0.012,
  betaSchedule: 'scaled_linear',
  trainedBetas: null,
  setAlphaToOne: false,
  stepsOffset: 1,
  predictionType: 'epsilon',
  timestepSpacing: 'leading',
  rescaleBetasZeroSnr: false,
});

/**
 * The reference DDIM configuration for a model that predicts `predictionType`: the reference code
 * hard-codes the configuration above (epsilon), and its SD 2.x version adds the model's
 * prediction_type and nothing else (fixtures-sd21v README), which makes it SD 2.1's own config.
 */
export function referenceDdimConfig(predictionType: PredictionType): SchedulerConfig {
  return { ...REFERENCE_DDIM_CONFIG, predictionType };
}

// diffusers v0.26.2 DDIMScheduler.__init__ defaults.
const DEFAULTS = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
  trained_betas: null,
  clip_sample: true,
  set_alpha_to_one: true,
  steps_offset: 0,
  prediction_type: 'epsilon',
  thresholding: false,
  timestep_spacing: 'leading',
  rescale_betas_zero_snr: false,
} as const;

const MAX_TRAIN_TIMESTEPS = 100_000;

function bad(source: string, message: string): IndetailError {
  return new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `${source}: ${message}`);
}
function unsupported(source: string, message: string): IndetailError {
  return new IndetailError('ERR_INDETAIL_UNSUPPORTED', `${source}: ${message}`);
}
function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** Validates a parsed scheduler_config.json object. `source` names it in error messages. */
export function parseSchedulerConfig(json: unknown, source = 'scheduler config'): SchedulerConfig {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw bad(source, `expected a JSON object but received ${show(json)}`);
  }
  const raw = json as Record<string, unknown>;
  const get = <K extends keyof typeof DEFAULTS>(key: K): unknown => (raw[key] === undefined ? DEFAULTS[key] : raw[key]);

  const int = (key: keyof typeof DEFAULTS, min: number, max: number): number => {
    const v = get(key);
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      throw bad(source, `expected an integer between ${min} and ${max} for ${key} but received ${show(v)}`);
    }
    return v;
  };
  const bool = (key: keyof typeof DEFAULTS): boolean => {
    const v = get(key);
    if (typeof v !== 'boolean') throw bad(source, `expected true or false for ${key} but received ${show(v)}`);
    return v;
  };
  const oneOf = <T extends string>(key: keyof typeof DEFAULTS, allowed: readonly T[]): T => {
    const v = get(key);
    if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
      throw unsupported(source, `${key} ${show(v)} is not supported (supported: ${allowed.join(', ')})`);
    }
    return v as T;
  };
  const unitInterval = (key: 'beta_start' | 'beta_end'): number => {
    const v = get(key);
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || v >= 1) {
      throw bad(source, `expected a number in (0, 1) for ${key} but received ${show(v)}`);
    }
    return v;
  };

  const numTrainTimesteps = int('num_train_timesteps', 1, MAX_TRAIN_TIMESTEPS);
  const betaStart = unitInterval('beta_start');
  const betaEnd = unitInterval('beta_end');
  const betaSchedule = oneOf<BetaSchedule>('beta_schedule', ['linear', 'scaled_linear', 'squaredcos_cap_v2']);

  let trainedBetas: number[] | null = null;
  const tb = get('trained_betas');
  if (tb !== null) {
    if (!Array.isArray(tb) || tb.length !== numTrainTimesteps) {
      throw bad(source, `expected null or an array of ${numTrainTimesteps} numbers for trained_betas but received ${show(tb)}`);
    }
    trainedBetas = tb.map((b, i) => {
      if (typeof b !== 'number' || !(b > 0 && b < 1)) throw bad(source, `trained_betas[${i}] must be a number in (0, 1) but is ${show(b)}`);
      return b;
    });
  }

  if (bool('clip_sample')) {
    throw unsupported(source, 'clip_sample true is not supported (these DDIM steps never clip the predicted x0); set clip_sample to false');
  }
  if (bool('thresholding')) {
    throw unsupported(source, 'thresholding true (dynamic thresholding) is not supported; set thresholding to false');
  }
  const setAlphaToOne = bool('set_alpha_to_one');
  const stepsOffset = int('steps_offset', 0, numTrainTimesteps - 1);
  const predictionType = oneOf<PredictionType>('prediction_type', ['epsilon', 'v_prediction']);
  const timestepSpacing = oneOf<TimestepSpacing>('timestep_spacing', ['leading', 'trailing', 'linspace']);
  const rescaleBetasZeroSnr = bool('rescale_betas_zero_snr');
  if (rescaleBetasZeroSnr && predictionType === 'epsilon') {
    throw unsupported(
      source,
      'rescale_betas_zero_snr true needs prediction_type "v_prediction" (with epsilon prediction the last level has alpha 0 and x0 is undefined)',
    );
  }
  if (betaSchedule !== 'squaredcos_cap_v2' && trainedBetas === null && !(betaStart <= betaEnd)) {
    throw bad(source, `beta_start (${betaStart}) must not exceed beta_end (${betaEnd})`);
  }
  return {
    numTrainTimesteps,
    betaStart,
    betaEnd,
    betaSchedule,
    trainedBetas,
    setAlphaToOne,
    stepsOffset,
    predictionType,
    timestepSpacing,
    rescaleBetasZeroSnr,
  };
}

/** Reads and validates a diffusers scheduler_config.json. */
export async function loadSchedulerConfig(path: string): Promise<SchedulerConfig> {
  const text = await readRegularTextFile('scheduler config', path, { maxBytes: MAX_CONFIG_FILE_BYTES });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new IndetailError('ERR_INDETAIL_BAD_FILE', `scheduler config ${path} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  return parseSchedulerConfig(json, `scheduler config ${path}`);
}
