// Stable Diffusion XL: two text encoders (OpenAI CLIP ViT-L, quick_gelu; OpenCLIP ViT-bigG, gelu,
// pad token "!", with a projection) whose penultimate layers are concatenated into 2048-wide
// conditioning, plus the pooled projection and the time ids as the UNet's added conditions
// (addition_embed_type "text_time"); per-level transformer depth (1, 2, 10), no attention at the
// first level; a VAE that overflows in fp16 (force_upcast); 1024 px; epsilon; CFG 5.0 in the
// paper (Tab. 3, Fig. 12). Single files (sgm naming) hold the encoders under
// conditioner.embedders.0.transformer (Hugging Face names) and conditioner.embedders.1.model
// (OpenCLIP: packed q/k/v, text_projection transposed).
import path from 'node:path';
import { packageRoot } from '../../native/addon.js';
import { DUAL_PENULTIMATE_POOLED } from '../conditioning/index.js';
import { inspectClipText } from '../ldm/clip-names.js';
import { inspectOpenClipText } from '../ldm/openclip-names.js';
import type { ModelFamily } from './descriptor.js';
import { headsOfWidth } from './heads.js';

const PREFIX = 'conditioner.embedders.';

export const SDXL: ModelFamily = {
  id: 'sdxl',
  name: 'Stable Diffusion XL',
  configDir: path.join(packageRoot, 'configs', 'sdxl'),
  conditioning: DUAL_PENULTIMATE_POOLED,
  defaults: { guidanceScale: 5 },
  unsupportedTasks: {
    structure: 'structure-guided generation is not available for SDXL yet (it needs an SDXL ControlNet, which indetail does not load); use variation or cross, or an SD 1.x / 2.x model with a ControlNet',
  },
  vaeNeedsUpcast: (vae) => vae.force_upcast !== false,
  pipelineClasses: ['StableDiffusionXLPipeline'],
  detectFolder: ({ index, unet, textEncoder2 }) => {
    if (index._class_name === 'StableDiffusionXLPipeline') return 'model_index.json names a StableDiffusionXLPipeline';
    if (unet.addition_embed_type === 'text_time') return 'its UNet takes text_time added conditions (SDXL)';
    if (textEncoder2) return 'it has a second text encoder (text_encoder_2, as SDXL)';
    return undefined;
  },
  singleFile: {
    textEncoderPrefix: PREFIX,
    inspectTextEncoders: (file) => [inspectClipText(file, `${PREFIX}0.transformer.`), inspectOpenClipText(file, `${PREFIX}1.model.`)],
    dropsLastTextLayer: false,
    unetHeads: headsOfWidth(64),
    sampleSize: (_prediction, shipped) => shipped,
  },
  predictionRule: 'SDXL models predict epsilon',
};
