// The CLIP text encoder's config.json (transformers CLIPTextConfig), checked and normalised:
// absent fields take transformers' defaults; values this engine cannot run are refused by name.
import { IndetailError } from '../errors.js';
import { ConfigChecker, type RawConfig } from './config-check.js';

export type ClipTextActivation = 'quick_gelu' | 'gelu';

/** What the native CLIP text model is built from (every field explicit). */
export interface ClipTextConfig {
  hidden_size: number;
  intermediate_size: number;
  num_attention_heads: number;
  num_hidden_layers: number;
  max_position_embeddings: number;
  vocab_size: number;
  layer_norm_eps: number;
  hidden_act: ClipTextActivation;
  /** 2 (legacy CLIP configs, SD1.5/SD2): pool at the argmax id; otherwise at the first eos id. */
  eos_token_id: number;
  /**
   * Width of text_projection, applied to the pooled output (CLIPTextModelWithProjection, and
   * CLIPModel's text tower); 0 = no projection (CLIPTextModel, whose projection_dim is unused).
   */
  projection_dim: number;
}

/** Checks a raw text_encoder/config.json; `source` names it in messages (a path). */
export function parseClipTextConfig(raw: RawConfig, source = 'text_encoder/config.json'): ClipTextConfig {
  const c = new ConfigChecker(raw, source);
  c.oneOf('model_type', ['clip_text_model'], 'clip_text_model');
  const arch = c.has('architectures') ? c.strings('architectures') : [];
  const known = ['CLIPTextModel', 'CLIPTextModelWithProjection'];
  const other = arch.find((a) => !known.includes(a));
  if (other !== undefined) unsupported(source, 'architectures', `${JSON.stringify(other)} is not supported (supported: ${known.join(', ')})`);
  const cfg: ClipTextConfig = {
    hidden_size: c.positiveInt('hidden_size', 512),
    intermediate_size: c.positiveInt('intermediate_size', 2048),
    num_attention_heads: c.positiveInt('num_attention_heads', 8),
    num_hidden_layers: c.positiveInt('num_hidden_layers', 12),
    max_position_embeddings: c.positiveInt('max_position_embeddings', 77),
    vocab_size: c.positiveInt('vocab_size', 49408),
    layer_norm_eps: c.number('layer_norm_eps', 1e-5),
    hidden_act: c.oneOf<ClipTextActivation>('hidden_act', ['quick_gelu', 'gelu'], 'quick_gelu'),
    eos_token_id: c.int('eos_token_id', 2),
    projection_dim: arch.includes('CLIPTextModelWithProjection') ? c.positiveInt('projection_dim', 512) : 0,
  };
  if (!(cfg.layer_norm_eps > 0)) bad(source, 'layer_norm_eps', `must be positive, found ${cfg.layer_norm_eps}`);
  if (cfg.hidden_size % cfg.num_attention_heads !== 0) {
    bad(source, 'num_attention_heads', `= ${cfg.num_attention_heads} does not divide hidden_size = ${cfg.hidden_size}`);
  }
  return cfg;
}

function unsupported(source: string, field: string, message: string): never {
  throw new IndetailError('ERR_INDETAIL_UNSUPPORTED', `${source}: ${field} ${message}`);
}
function bad(source: string, field: string, message: string): never {
  throw new IndetailError('ERR_INDETAIL_BAD_FILE', `${source}: ${field} ${message}`);
}
