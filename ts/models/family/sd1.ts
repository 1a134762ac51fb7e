// Stable Diffusion 1.x: OpenAI CLIP ViT-L/14 text encoder (quick_gelu), 768-wide conditioning,
// epsilon prediction, 512 px. Single files keep the text encoder's Hugging Face names under
// cond_stage_model.transformer.
import path from 'node:path';
import { IndetailError } from '../../errors.js';
import { packageRoot } from '../../native/addon.js';
import type { SafetensorsFile } from '../../safetensors.js';
import { clipNameFromLdm } from '../ldm/clip-names.js';
import { buildMap, countLayers } from '../ldm/map-utils.js';
import type { ModelFamily, SingleFileTextEncoder } from './descriptor.js';

const PREFIX = 'cond_stage_model.transformer.';

function inspectTextEncoder(file: SafetensorsFile): SingleFileTextEncoder {
  const map = buildMap(file.names(), PREFIX, clipNameFromLdm);
  const tok = map['text_model.embeddings.token_embedding.weight'];
  if (typeof tok !== 'string') throw new IndetailError('ERR_INDETAIL_UNSUPPORTED', `${file.path}: the text encoder has no token embedding`);
  const projection = `${PREFIX}text_projection.weight`; // CLIPTextModelWithProjection's, saved with the model
  return { map, hiddenSize: file.entry(tok)!.shape[1]!, layers: countLayers(map), ...(file.entry(projection) ? { projection } : {}) };
}

export const SD1: ModelFamily = {
  id: 'sd1',
  name: 'Stable Diffusion 1.x',
  configDir: path.join(packageRoot, 'configs', 'sd15'),
  controlnetConfigDir: path.join(packageRoot, 'configs', 'sd15-controlnet'),
  conditioning: 'last-hidden-state',
  pipelineClasses: ['StableDiffusionPipeline', 'StableDiffusionControlNetPipeline'],
  detectFolder: ({ textEncoder }) =>
    (textEncoder.hidden_act ?? 'quick_gelu') === 'quick_gelu' ? 'its text encoder uses quick_gelu (OpenAI CLIP, as SD 1.x)' : undefined,
  singleFile: {
    textEncoderPrefix: PREFIX,
    inspectTextEncoder,
    dropsLastTextLayer: false,
    unetHeads: (widths) => widths.map(() => 8), // SD 1.x: 8 heads at every level
    sampleSize: (_prediction, shipped) => shipped,
  },
  predictionRule: 'SD 1.x models predict epsilon',
};
