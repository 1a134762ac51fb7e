// The configs of the two Vision Transformers the quality metrics run, checked and normalised:
// CLIP's vision tower (transformers CLIPVisionConfig, from a CLIPModel config.json's
// vision_config plus its projection_dim) and a ViT as transformers' ViTModel holds DINO
// (ViTConfig). Absent fields take transformers' defaults; values the engine cannot run are
// refused by name.
import { IndetailError } from '../errors.js';
import { ConfigChecker, type RawConfig } from './config-check.js';

export type VitActivation = 'quick_gelu' | 'gelu';

/** Fields both towers share (every field explicit). */
export interface VitConfig {
  hidden_size: number;
  intermediate_size: number;
  num_attention_heads: number;
  num_hidden_layers: number;
  image_size: number;
  patch_size: number;
  num_channels: number;
  layer_norm_eps: number;
  hidden_act: VitActivation;
}

export interface ClipVisionConfig extends VitConfig {
  /** Width of the image embedding (visual_projection). */
  projection_dim: number;
}

export interface VitModelConfig extends VitConfig {
  qkv_bias: boolean;
}

type VitDefaults = Omit<VitConfig, 'num_channels'>;

// transformers' CLIPVisionConfig and ViTConfig defaults.
const CLIP_VISION_DEFAULTS: VitDefaults = {
  hidden_size: 768, intermediate_size: 3072, num_attention_heads: 12, num_hidden_layers: 12,
  image_size: 224, patch_size: 32, layer_norm_eps: 1e-5, hidden_act: 'quick_gelu',
};
const VIT_DEFAULTS: VitDefaults = {
  hidden_size: 768, intermediate_size: 3072, num_attention_heads: 12, num_hidden_layers: 12,
  image_size: 224, patch_size: 16, layer_norm_eps: 1e-12, hidden_act: 'gelu',
};

function parseVit(c: ConfigChecker, d: VitDefaults): VitConfig {
  const cfg: VitConfig = {
    hidden_size: c.positiveInt('hidden_size', d.hidden_size),
    intermediate_size: c.positiveInt('intermediate_size', d.intermediate_size),
    num_attention_heads: c.positiveInt('num_attention_heads', d.num_attention_heads),
    num_hidden_layers: c.positiveInt('num_hidden_layers', d.num_hidden_layers),
    image_size: c.positiveInt('image_size', d.image_size),
    patch_size: c.positiveInt('patch_size', d.patch_size),
    num_channels: c.oneOf('num_channels', [3], 3),
    layer_norm_eps: c.number('layer_norm_eps', d.layer_norm_eps),
    hidden_act: c.oneOf<VitActivation>('hidden_act', ['quick_gelu', 'gelu'], d.hidden_act),
  };
  const bad = (field: string, message: string): never => {
    throw new IndetailError('ERR_INDETAIL_BAD_FILE', `${c.source}: ${field} ${message}`);
  };
  if (!(cfg.layer_norm_eps > 0)) bad('layer_norm_eps', `must be positive, found ${cfg.layer_norm_eps}`);
  if (cfg.hidden_size % cfg.num_attention_heads !== 0) {
    bad('num_attention_heads', `= ${cfg.num_attention_heads} does not divide hidden_size = ${cfg.hidden_size}`);
  }
  if (cfg.image_size % cfg.patch_size !== 0) bad('patch_size', `= ${cfg.patch_size} does not divide image_size = ${cfg.image_size}`);
  return cfg;
}

/** CLIP's vision_config (`vision`) with the CLIPModel's projection_dim; `source` names it in messages. */
export function parseClipVisionConfig(vision: RawConfig, projectionDim: unknown, source = 'config.json vision_config'): ClipVisionConfig {
  const c = new ConfigChecker(vision, source);
  c.oneOf('model_type', ['clip_vision_model'], 'clip_vision_model');
  const projection = new ConfigChecker({ projection_dim: projectionDim }, source).positiveInt('projection_dim', 512);
  return { ...parseVit(c, CLIP_VISION_DEFAULTS), projection_dim: projection };
}

/** A ViTModel config.json (DINO); `source` names it in messages. */
export function parseVitConfig(raw: RawConfig, source = 'config.json'): VitModelConfig {
  const c = new ConfigChecker(raw, source);
  c.oneOf('model_type', ['vit'], 'vit');
  return { ...parseVit(c, VIT_DEFAULTS), qkv_bias: c.bool('qkv_bias', true) };
}
