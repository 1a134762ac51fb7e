// The flags that say which model to load (--model, --config, --vae, --prediction-type,
// --controlnet): one definition for every command that loads a pipeline.
import type { Argv } from 'yargs';
import { PREDICTION_TYPES } from '../models/family/prediction-type.js';
import { modelSourceOptions, type ModelSource } from '../pipeline/load-options.js';
import type { PredictionType } from '../scheduler/index.js';

export interface ModelFlagArgs {
  model: string;
  config?: string;
  vae?: string;
  'prediction-type'?: string;
  controlnet?: string;
}

/** Adds the model flags; `controlnet` says whether --controlnet is required, optional or absent. */
export function modelFlags<T>(y: Argv<T>, controlnet: { required: boolean; describe: string } | null): Argv<T> {
  let b = y
    .option('model', { type: 'string', demandOption: true, describe: 'diffusers SD 1.x / 2.x / XL folder or single-file .safetensors' })
    .option('config', { type: 'string', describe: 'for single-file models: a diffusers folder whose configs to use' })
    .option('vae', { type: 'string', describe: "a VAE to use instead of the model's (folder or .safetensors), e.g. SDXL's fp16-fixed VAE" })
    .option('prediction-type', { choices: PREDICTION_TYPES, describe: "what the UNet predicts (default: what the model says, else its family's rule; see indetail info)" });
  if (controlnet) b = b.option('controlnet', { type: 'string', demandOption: controlnet.required, describe: controlnet.describe });
  return b as Argv<T>;
}

/** The load options the model flags give. */
export function modelSource(a: ModelFlagArgs): ModelSource {
  return modelSourceOptions({
    model: a.model,
    config: a.config,
    vae: a.vae,
    predictionType: a['prediction-type'] as PredictionType | undefined,
    controlnet: a.controlnet,
  });
}
