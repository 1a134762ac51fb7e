// Stable Diffusion 2.x: OpenCLIP ViT-H/14 text encoder (gelu, pad token "!"), 1024-wide
// conditioning from its penultimate layer, linear proj_in/proj_out, 64-wide attention heads;
// 2.0/2.1 at 768 px predict v, the 512 px "base" models epsilon. Single files hold the OpenCLIP
// text tower under cond_stage_model.model (packed q/k/v, see ldm/openclip-names.ts).
import path from 'node:path';
import { packageRoot } from '../../native/addon.js';
import { LAST_HIDDEN_STATE } from '../conditioning/index.js';
import { inspectOpenClipText } from '../ldm/openclip-names.js';
import type { ModelFamily } from './descriptor.js';
import { headsOfWidth } from './heads.js';

const PREFIX = 'cond_stage_model.model.';

export const SD2: ModelFamily = {
  id: 'sd2',
  name: 'Stable Diffusion 2.x',
  configDir: path.join(packageRoot, 'configs', 'sd21'),
  controlnetConfigDir: path.join(packageRoot, 'configs', 'sd21-controlnet'),
  conditioning: LAST_HIDDEN_STATE,
  defaults: {},
  unsupportedTasks: {},
  vaeNeedsUpcast: () => false,
  pipelineClasses: ['StableDiffusionPipeline', 'StableDiffusionControlNetPipeline'],
  detectFolder: ({ unet, textEncoder }) => {
    if (textEncoder.hidden_act === 'gelu') return 'its text encoder uses gelu (OpenCLIP, as SD 2.x)';
    if (unet.cross_attention_dim === 1024) return 'its UNet cross-attends to 1024-wide text states (SD 2.x)';
    return undefined;
  },
  singleFile: {
    textEncoderPrefix: PREFIX,
    inspectTextEncoders: (file) => [inspectOpenClipText(file, PREFIX)],
    dropsLastTextLayer: true,
    unetHeads: headsOfWidth(64),
    // The 768 px v models are the shipped configuration; epsilon SD 2.x models are the 512 px base models.
    sampleSize: (prediction, shipped) => (prediction === 'epsilon' ? 64 : shipped),
  },
  predictionRule:
    'SD 2.x single files without a stated prediction type are taken as v_prediction (the 768 px SD 2.0/2.1 models), ' +
    "as diffusers' single-file loader does; SD 2.x base (512 px) models need predictionType 'epsilon' (CLI --prediction-type epsilon)",
};
