// Stable Diffusion 1.x: OpenAI CLIP ViT-L/14 text encoder (quick_gelu), 768-wide conditioning,
// epsilon prediction, 512 px. Single files keep the text encoder's Hugging Face names under
// cond_stage_model.transformer.
import path from 'node:path';
import { packageRoot } from '../../native/addon.js';
import { LAST_HIDDEN_STATE } from '../conditioning/index.js';
import { inspectClipText } from '../ldm/clip-names.js';
import type { ModelFamily } from './descriptor.js';

const PREFIX = 'cond_stage_model.transformer.';

export const SD1: ModelFamily = {
  id: 'sd1',
  name: 'Stable Diffusion 1.x',
  configDir: path.join(packageRoot, 'configs', 'sd15'),
  controlnetConfigDir: path.join(packageRoot, 'configs', 'sd15-controlnet'),
  conditioning: LAST_HIDDEN_STATE,
  defaults: {},
  unsupportedTasks: {},
  vaeNeedsUpcast: () => false,
  pipelineClasses: ['StableDiffusionPipeline', 'StableDiffusionControlNetPipeline'],
  detectFolder: ({ textEncoder }) =>
    (textEncoder.hidden_act ?? 'quick_gelu') === 'quick_gelu' ? 'its text encoder uses quick_gelu (OpenAI CLIP, as SD 1.x)' : undefined,
  singleFile: {
    textEncoderPrefix: PREFIX,
    inspectTextEncoders: (file) => [inspectClipText(file, PREFIX)],
    dropsLastTextLayer: false,
    unetHeads: (widths) => widths.map(() => 8), // SD 1.x: 8 heads at every level
    sampleSize: (_prediction, shipped) => shipped,
  },
  predictionRule: 'SD 1.x models predict epsilon',
};
