// Fits the text encoder found in a single-file checkpoint to the config it is loaded with: the
// width must agree; the layer count must agree, except for families whose config deliberately
// leaves the checkpoint's last layer out (SD 2.x, diffusers' convert_open_clip_checkpoint), whose
// last layer and projection are then dropped; a config that needs a text projection
// (CLIPTextModelWithProjection) needs one in the file.
import { IndetailError } from '../../errors.js';
import type { RawConfig } from '../config-check.js';
import type { ModelFamily, SingleFileTextEncoder } from '../family/index.js';
import type { WeightMap } from '../weights.js';

function unsupported(message: string): never {
  throw new IndetailError('ERR_INDETAIL_UNSUPPORTED', message);
}

export function fitTextEncoder(file: string, family: ModelFamily, te: SingleFileTextEncoder, config: RawConfig, configSource: string): WeightMap {
  const hidden = config.hidden_size;
  const layers = config.num_hidden_layers;
  const hint = 'pass the folder of its diffusers configs as the config option (CLI --config)';
  if (te.hiddenSize !== hidden) {
    unsupported(`${file}: its text encoder is ${te.hiddenSize} wide but ${configSource} says hidden_size ${String(hidden)}; ${hint}`);
  }
  const dropLast = family.singleFile.dropsLastTextLayer && te.layers === Number(layers) + 1;
  if (te.layers !== layers && !dropLast) {
    const allowed = family.singleFile.dropsLastTextLayer ? `${String(layers)} or ${Number(layers) + 1} (the last one unused, as ${family.name} runs)` : String(layers);
    unsupported(`${file}: its text encoder has ${te.layers} layers but ${configSource} says num_hidden_layers ${String(layers)} (the file must hold ${allowed}); ${hint}`);
  }
  const withProjection = Array.isArray(config.architectures) && config.architectures.includes('CLIPTextModelWithProjection');
  if (withProjection && !te.projection) {
    unsupported(`${file}: ${configSource} describes a CLIPTextModelWithProjection, but the file's text encoder has no text projection`);
  }
  if (withProjection && dropLast) {
    unsupported(`${file}: ${configSource} describes a CLIPTextModelWithProjection of ${String(layers)} layers, whose projection cannot follow a file of ${te.layers} layers`);
  }
  const map: WeightMap = {};
  const unused = `text_model.encoder.layers.${String(layers)}.`;
  for (const [name, key] of Object.entries(te.map)) if (!(dropLast && name.startsWith(unused))) map[name] = key;
  if (withProjection) map['text_projection.weight'] = te.projection!;
  return map;
}
