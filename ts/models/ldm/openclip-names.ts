// The OpenCLIP text encoder of single-file SD 2.x checkpoints (cond_stage_model.model.*) and SDXL's
// second text encoder (conditioner.embedders.1.model.*) mapped to
// Hugging Face CLIPTextModel names, as diffusers' convert_open_clip_checkpoint (v0.26.2) does:
//   token_embedding.weight, positional_embedding, ln_final.*  -> text_model.embeddings.*, final_layer_norm.*
//   transformer.resblocks.N.{ln_1, ln_2, attn.out_proj, mlp.c_fc, mlp.c_proj}.*
//     -> text_model.encoder.layers.N.{layer_norm1, layer_norm2, self_attn.out_proj, mlp.fc1, mlp.fc2}.*
//   transformer.resblocks.N.attn.in_proj_{weight,bias} [3C, ...] -> self_attn.{q,k,v}_proj rows [0, C), [C, 2C), [2C, 3C)
//   text_projection [C, P] (used as x @ P) -> text_projection.weight [P, C], transposed
import { IndetailError } from '../../errors.js';
import type { SafetensorsFile } from '../../safetensors.js';
import type { SingleFileTextEncoder } from '../family/descriptor.js';
import type { WeightMap, WeightView } from '../weights.js';
import { countLayers } from './map-utils.js';

const LAYER_RENAMES: Array<[string, string]> = [
  ['ln_1.', 'layer_norm1.'],
  ['ln_2.', 'layer_norm2.'],
  ['attn.out_proj.', 'self_attn.out_proj.'],
  ['mlp.c_fc.', 'mlp.fc1.'],
  ['mlp.c_proj.', 'mlp.fc2.'],
];

const TOP_LEVEL: Record<string, string> = {
  'token_embedding.weight': 'text_model.embeddings.token_embedding.weight',
  positional_embedding: 'text_model.embeddings.position_embedding.weight',
  'ln_final.weight': 'text_model.final_layer_norm.weight',
  'ln_final.bias': 'text_model.final_layer_norm.bias',
};

/**
 * The map for every key under `prefix` (unknown keys such as logit_scale are left out). `hidden`
 * is the model width C, which splits the packed q/k/v projections.
 */
export function openClipTextMap(names: string[], prefix: string, hidden: number): { map: WeightMap; projection?: WeightView } {
  const map: WeightMap = {};
  let projection: WeightView | undefined;
  for (const full of names) {
    if (!full.startsWith(prefix)) continue;
    const key = full.slice(prefix.length);
    if (TOP_LEVEL[key]) {
      map[TOP_LEVEL[key]] = full;
      continue;
    }
    if (key === 'text_projection') {
      projection = { key: full, transpose: true };
      continue;
    }
    const m = /^transformer\.resblocks\.(\d+)\.(.+)$/.exec(key);
    if (!m) continue;
    const layer = `text_model.encoder.layers.${m[1]}.`;
    const rest = m[2]!;
    const packed = /^attn\.in_proj_(weight|bias)$/.exec(rest);
    if (packed) {
      ['q_proj', 'k_proj', 'v_proj'].forEach((proj, i) => {
        map[`${layer}self_attn.${proj}.${packed[1]}`] = { key: full, rows: [i * hidden, hidden] };
      });
      continue;
    }
    const rename = LAYER_RENAMES.find(([from]) => rest.startsWith(from));
    if (rename) map[layer + rename[1] + rest.slice(rename[0].length)] = full;
  }
  return { map, ...(projection ? { projection } : {}) };
}

/** The OpenCLIP text encoder stored under `prefix` in a single file, mapped onto diffusers names. */
export function inspectOpenClipText(file: SafetensorsFile, prefix: string): SingleFileTextEncoder {
  const tok = file.entry(`${prefix}token_embedding.weight`);
  if (!tok || tok.shape.length !== 2) throw new IndetailError('ERR_INDETAIL_UNSUPPORTED', `${file.path}: the OpenCLIP text encoder has no token embedding (${prefix}token_embedding.weight)`);
  const hiddenSize = tok.shape[1]!;
  const { map, projection } = openClipTextMap(file.names(), prefix, hiddenSize);
  return { map, hiddenSize, layers: countLayers(map), ...(projection ? { projection } : {}) };
}
