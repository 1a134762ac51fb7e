// The text encoder inside single-file SD1.x checkpoints keeps Hugging Face names under
// cond_stage_model.transformer (some files omit the text_model level); so does SDXL's first text
// encoder, under conditioner.embedders.0.transformer.
import { IndetailError } from '../../errors.js';
import type { SafetensorsFile } from '../../safetensors.js';
import type { SingleFileTextEncoder } from '../family/descriptor.js';
import { buildMap, countLayers } from './map-utils.js';

export function clipNameFromLdm(key: string): string | undefined {
  if (key.startsWith('text_model.')) return key;
  if (key.startsWith('embeddings.') || key.startsWith('encoder.') || key.startsWith('final_layer_norm.')) return `text_model.${key}`;
  return undefined;
}

/** The CLIP text encoder stored under `prefix` (Hugging Face names) in a single file. */
export function inspectClipText(file: SafetensorsFile, prefix: string): SingleFileTextEncoder {
  const map = buildMap(file.names(), prefix, clipNameFromLdm);
  const tok = map['text_model.embeddings.token_embedding.weight'];
  if (typeof tok !== 'string') throw new IndetailError('ERR_INDETAIL_UNSUPPORTED', `${file.path}: the text encoder under '${prefix}' has no token embedding`);
  const projection = `${prefix}text_projection.weight`; // CLIPTextModelWithProjection's, saved with the model
  return { map, hiddenSize: file.entry(tok)!.shape[1]!, layers: countLayers(map), ...(file.entry(projection) ? { projection } : {}) };
}
