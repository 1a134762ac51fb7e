// Epsilon or v: what the model's UNet predicts, decided once per model and carried as its
// scheduler's prediction_type (ModelFiles.prediction). Sources, in the order they are reported:
//   1. the caller (PipelineLoadOptions.predictionType, CLI --prediction-type);
//   2. what the files say: a diffusers folder's scheduler_config.json (also a --config folder's),
//      a single file's safetensors metadata (ModelSpec `modelspec.prediction_type` "v"/"epsilon",
//      `modelspec.architecture` "stable-diffusion-v2-768-v" etc., kohya's `ss_v_parameterization`)
//      or a `v_pred` marker tensor (the ComfyUI / Forge convention);
//   3. the family's rule (family descriptor `predictionRule`, its shipped scheduler config).
// Sources 1 and 2 that disagree are an error naming both: a model is never run with a
// prediction type something about it contradicts.
import { IndetailError } from '../../errors.js';
import type { SafetensorsFile } from '../../safetensors.js';
import type { PredictionType } from '../../scheduler/config.js';

export const PREDICTION_TYPES: readonly PredictionType[] = ['epsilon', 'v_prediction'];

/** The prediction type a model runs with, and why. */
export interface PredictionChoice {
  type: PredictionType;
  reason: string;
}

/** One explicit statement about the prediction type: its value and where it was read. */
export interface PredictionStatement {
  type: PredictionType;
  source: string;
}

function metadataStatement(file: SafetensorsFile, key: string, value: string): PredictionStatement | undefined {
  const source = `${file.path} metadata ${key} = ${JSON.stringify(value)}`;
  const v = value.trim().toLowerCase();
  if (key === 'modelspec.prediction_type') {
    if (v === 'v' || v === 'v_prediction') return { type: 'v_prediction', source };
    if (v === 'epsilon' || v === 'eps') return { type: 'epsilon', source };
    throw new IndetailError('ERR_INDETAIL_UNSUPPORTED', `${source}: only "epsilon" and "v" prediction are supported`);
  }
  if (key === 'modelspec.architecture') {
    if (/^stable-diffusion-v2-\d+-v(\/|$)/.test(v)) return { type: 'v_prediction', source };
    if (/^stable-diffusion-v(1|2-512)(\/|$)/.test(v)) return { type: 'epsilon', source };
    return undefined;
  }
  if (key === 'ss_v_parameterization') {
    if (v === 'true') return { type: 'v_prediction', source };
    if (v === 'false') return { type: 'epsilon', source };
  }
  return undefined;
}

/** What a single-file checkpoint says about its prediction type (possibly several statements). */
export function predictionStatementsOfFile(file: SafetensorsFile): PredictionStatement[] {
  const out: PredictionStatement[] = [];
  const meta = file.metadata;
  for (const key of ['modelspec.prediction_type', 'modelspec.architecture', 'ss_v_parameterization']) {
    const value = meta[key];
    if (typeof value !== 'string') continue;
    const s = metadataStatement(file, key, value);
    if (s) out.push(s);
  }
  if (file.has('v_pred')) out.push({ type: 'v_prediction', source: `${file.path} holds a 'v_pred' marker tensor` });
  return out;
}

/** Checks a caller's prediction type (option or CLI flag). */
export function checkPredictionType(v: unknown, name = 'predictionType'): PredictionType {
  if (!PREDICTION_TYPES.includes(v as PredictionType)) {
    throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `Expected 'epsilon' or 'v_prediction' for ${name} but received ${JSON.stringify(v)}`);
  }
  return v as PredictionType;
}

/**
 * The prediction type from the caller's choice and the model's statements, else the family's
 * default; an error naming both sides when any two disagree.
 */
export function resolvePredictionType(args: {
  user?: PredictionType | undefined;
  statements: PredictionStatement[];
  familyDefault: PredictionType;
  familyRule: string;
}): PredictionChoice {
  const all: PredictionStatement[] = [
    ...(args.user !== undefined ? [{ type: checkPredictionType(args.user), source: 'the predictionType option' }] : []),
    ...args.statements,
  ];
  const first = all[0];
  if (!first) return { type: args.familyDefault, reason: args.familyRule };
  const other = all.find((s) => s.type !== first.type);
  if (other) {
    throw new IndetailError(
      args.user !== undefined ? 'ERR_INDETAIL_INVALID_ARGUMENT' : 'ERR_INDETAIL_BAD_FILE',
      `contradictory prediction types: ${first.source} says ${first.type}, but ${other.source} says ${other.type}` +
        (args.user !== undefined ? ' (leave predictionType / --prediction-type out, or use a model that is what you ask for)' : ''),
    );
  }
  return { type: first.type, reason: `${first.source}${all.length > 1 ? ` (agrees with ${all.slice(1).map((s) => s.source).join(', ')})` : ''}` };
}
