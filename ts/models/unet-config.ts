// Validation and normalisation of a diffusers UNet2DConditionModel config.json (and the
// encoder half shared with ControlNetModel). Every value the engine does not implement is
// refused by name with ERR_INDETAIL_UNSUPPORTED; malformed or inconsistent values are
// ERR_INDETAIL_BAD_FILE. The result spells every per-level value out as a list and is what
// the native graph reads (engine/models/unet_config.cc); nothing model-specific is assumed.
import { IndetailError } from '../errors.js';
import { ConfigChecker, type RawConfig } from './config-check.js';

export type DownBlockType = 'CrossAttnDownBlock2D' | 'DownBlock2D';
export type UpBlockType = 'CrossAttnUpBlock2D' | 'UpBlock2D';
export type TimeActivation = 'silu' | 'gelu' | null;

/** The encoder half (time embedding, conv_in, down blocks, mid block), shared with the ControlNet. */
export interface UNetEncoderConfig {
  in_channels: number;
  block_out_channels: number[];
  /** Per level (down order). */
  layers_per_block: number[];
  down_block_types: DownBlockType[];
  mid_block_type: 'UNetMidBlock2DCrossAttn';
  /** Attention heads per level (down order): diffusers' `attention_head_dim` quirk resolved. */
  num_attention_heads: number[];
  /** Per level (down order). */
  cross_attention_dim: number[];
  /** Per level (down order); the mid block uses the last. */
  transformer_layers_per_block: number[];
  norm_num_groups: number;
  norm_eps: number;
  act_fn: 'silu';
  flip_sin_to_cos: boolean;
  freq_shift: number;
  time_embed_dim: number;
  time_embedding_act_fn: TimeActivation;
  timestep_post_act: TimeActivation;
  downsample_padding: number;
  conv_in_kernel: number;
  resnet_out_scale_factor: number;
  mid_block_scale_factor: number;
  /** 1×1 convs or linears for proj_in/proj_out: the same thing on NHWC, both supported. */
  use_linear_projection: boolean;
  /** fp32 attention scores: always the case in this engine. */
  upcast_attention: boolean;
  /**
   * "text_time" (SDXL): add_embedding(concat(pooled text embedding, sinusoid of each time id))
   * joins the time embedding; the forward then takes added conditions (unet-inputs.ts).
   */
  addition_embed_type: 'text_time' | null;
  /** Width of each time id's sinusoidal embedding (0 without added conditions). */
  addition_time_embed_dim: number;
  /** Input width of add_embedding: pooled text width + time ids × addition_time_embed_dim (0 without). */
  projection_class_embeddings_input_dim: number;
}

export interface UNetConfig extends UNetEncoderConfig {
  out_channels: number;
  up_block_types: UpBlockType[];
  /** Per up block (up order). */
  reverse_transformer_layers_per_block: number[];
  conv_out_kernel: number;
  /** Latent size the model was trained at (informational), or null. */
  sample_size: number | null;
}

/** Output side in pixels of a call that gives no size: the latent size the model was trained at × 8 (512 when its config does not say). */
export function defaultImageSide(cfg: UNetConfig): number {
  return (cfg.sample_size ?? 64) * 8;
}

function unsupported(source: string, field: string, value: unknown, supported: string): never {
  throw new IndetailError('ERR_INDETAIL_UNSUPPORTED', `${source}: ${field} = ${JSON.stringify(value)} is not supported (${supported})`);
}

function badFile(source: string, message: string): never {
  throw new IndetailError('ERR_INDETAIL_BAD_FILE', `${source}: ${message}`);
}

function timeActivation(c: ConfigChecker, field: string): TimeActivation {
  const v = c.oneOf<string | null>(field, [null, 'silu', 'swish', 'gelu'], null);
  return v === 'swish' ? 'silu' : (v as TimeActivation);
}

/** An int or a per-level list of ints; nested lists (asymmetric transformer depth) are refused. */
function perLevel(c: ConfigChecker, field: string, n: number, def?: number): number[] {
  const v = c.raw[field] ?? def;
  if (Array.isArray(v) && v.some((x) => Array.isArray(x))) {
    unsupported(c.source, field, v, 'an integer or one integer per level');
  }
  const list = c.intPerLevel(field, n, def);
  if (list.some((x) => x <= 0)) badFile(c.source, `expected positive integers for '${field}' but found ${JSON.stringify(v)}`);
  return list;
}

/** Fields whose non-default values change the architecture in ways the engine does not implement. */
function refuseUnimplemented(c: ConfigChecker): void {
  const s = c.source;
  const nullOnly = [
    'class_embed_type',
    'num_class_embeds',
    'encoder_hid_dim',
    'encoder_hid_dim_type',
    'time_cond_proj_dim',
    'cross_attention_norm',
  ];
  for (const f of nullOnly) if (c.has(f)) unsupported(s, f, c.raw[f], 'only null');
  c.oneOf('resnet_time_scale_shift', ['default'], 'default');
  c.oneOf('time_embedding_type', ['positional'], 'positional');
  c.oneOf('attention_type', ['default'], 'default');
  c.oneOf('dual_cross_attention', [false], false);
  c.oneOf('center_input_sample', [false], false);
  c.oneOf('class_embeddings_concat', [false], false);
  c.oneOf('resnet_skip_time_act', [false], false);
  c.oneOf<boolean | null>('mid_block_only_cross_attention', [null, false], null);
  c.oneOf('global_pool_conditions', [false], false);
  const oca = c.raw.only_cross_attention ?? false;
  if (!(oca === false || (Array.isArray(oca) && oca.every((x) => x === false)))) {
    unsupported(s, 'only_cross_attention', oca, 'only false');
  }
}

export function normalizeUNetEncoderConfig(raw: RawConfig, source: string): UNetEncoderConfig {
  const c = new ConfigChecker(raw, source);
  refuseUnimplemented(c);
  const boc = c.ints('block_out_channels', [320, 640, 1280, 1280]);
  const n = boc.length;
  if (n === 0 || boc.some((x) => x <= 0)) badFile(source, `expected a non-empty list of positive integers for 'block_out_channels' but found ${JSON.stringify(boc)}`);
  const downTypes = c.strings('down_block_types', ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D']);
  if (downTypes.length !== n) badFile(source, `down_block_types has ${downTypes.length} entries but block_out_channels has ${n}`);
  downTypes.forEach((t, i) => {
    if (t !== 'CrossAttnDownBlock2D' && t !== 'DownBlock2D') {
      unsupported(source, `down_block_types[${i}]`, t, 'supported: "CrossAttnDownBlock2D", "DownBlock2D"');
    }
  });
  const mid = c.oneOf<string | null>('mid_block_type', ['UNetMidBlock2DCrossAttn'], 'UNetMidBlock2DCrossAttn');
  c.oneOf('act_fn', ['silu', 'swish'], 'silu'); // fused into the GroupNorms

  // diffusers' naming quirk: `attention_head_dim` holds the number of heads unless
  // `num_attention_heads` is given.
  const headsField = c.has('num_attention_heads') ? 'num_attention_heads' : 'attention_head_dim';
  if (!c.has(headsField)) badFile(source, `'attention_head_dim' is missing (it gives the number of attention heads)`);
  const heads = perLevel(c, headsField, n);

  const groups = c.has('norm_num_groups') ? c.positiveInt('norm_num_groups') : unsupported(source, 'norm_num_groups', c.raw.norm_num_groups ?? null, 'a positive integer');
  const crossDim = perLevel(c, 'cross_attention_dim', n, 1280);
  const tlayers = perLevel(c, 'transformer_layers_per_block', n, 1);
  const layers = perLevel(c, 'layers_per_block', n, 2);

  boc.forEach((ch, i) => {
    if (ch % groups !== 0) badFile(source, `block_out_channels[${i}] = ${ch} is not divisible by norm_num_groups = ${groups}`);
    const attention = downTypes[i] === 'CrossAttnDownBlock2D' || i === n - 1;
    const h = heads[i] ?? 1;
    if (attention && ch % h !== 0) badFile(source, `block_out_channels[${i}] = ${ch} cannot be split into ${h} attention heads (${headsField})`);
  });

  const timeEmbeddingDim = c.has('time_embedding_dim') ? c.positiveInt('time_embedding_dim') : (boc[0] ?? 0) * 4;
  const downsamplePadding = c.int('downsample_padding', 1);
  if (downsamplePadding < 0) badFile(source, `expected a non-negative integer for 'downsample_padding' but found ${downsamplePadding}`);
  const convIn = c.positiveInt('conv_in_kernel', 3);
  if (convIn % 2 !== 1) unsupported(source, 'conv_in_kernel', convIn, 'odd kernel sizes only');
  const resnetScale = c.number('resnet_out_scale_factor', 1);
  const midScale = c.number('mid_block_scale_factor', 1);
  if (resnetScale <= 0) badFile(source, `expected a positive number for 'resnet_out_scale_factor' but found ${resnetScale}`);
  if (midScale <= 0) badFile(source, `expected a positive number for 'mid_block_scale_factor' but found ${midScale}`);
  const eps = c.number('norm_eps', 1e-5);
  if (eps <= 0) badFile(source, `expected a positive number for 'norm_eps' but found ${eps}`);
  const inChannels = c.positiveInt('in_channels', 4);
  const textTime = c.oneOf<string | null>('addition_embed_type', [null, 'text_time'], null) === 'text_time';
  const timeDim = textTime ? c.positiveInt('addition_time_embed_dim') : 0;
  if (timeDim % 2 !== 0) unsupported(source, 'addition_time_embed_dim', timeDim, 'an even number (sine and cosine halves)');

  return {
    in_channels: inChannels,
    block_out_channels: boc,
    layers_per_block: layers,
    down_block_types: downTypes as DownBlockType[],
    mid_block_type: mid as 'UNetMidBlock2DCrossAttn',
    num_attention_heads: heads,
    cross_attention_dim: crossDim,
    transformer_layers_per_block: tlayers,
    norm_num_groups: groups,
    norm_eps: eps,
    act_fn: 'silu',
    flip_sin_to_cos: c.bool('flip_sin_to_cos', true),
    freq_shift: c.number('freq_shift', 0),
    time_embed_dim: timeEmbeddingDim,
    time_embedding_act_fn: timeActivation(c, 'time_embedding_act_fn'),
    timestep_post_act: timeActivation(c, 'timestep_post_act'),
    downsample_padding: downsamplePadding,
    conv_in_kernel: convIn,
    resnet_out_scale_factor: resnetScale,
    mid_block_scale_factor: midScale,
    use_linear_projection: c.bool('use_linear_projection', false),
    upcast_attention: c.bool('upcast_attention', false),
    addition_embed_type: textTime ? 'text_time' : null,
    addition_time_embed_dim: timeDim,
    projection_class_embeddings_input_dim: textTime ? c.positiveInt('projection_class_embeddings_input_dim') : 0,
  };
}

/** Validates a diffusers UNet2DConditionModel config and spells it out for the engine. */
export function normalizeUNetConfig(raw: RawConfig, source = 'UNet config'): UNetConfig {
  const c = new ConfigChecker(raw, source);
  if (c.has('_class_name')) c.oneOf('_class_name', ['UNet2DConditionModel'], 'UNet2DConditionModel');
  const enc = normalizeUNetEncoderConfig(raw, source);
  const n = enc.block_out_channels.length;
  const upTypes = c.strings('up_block_types', ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D']);
  if (upTypes.length !== n) badFile(source, `up_block_types has ${upTypes.length} entries but block_out_channels has ${n}`);
  upTypes.forEach((t, i) => {
    if (t !== 'CrossAttnUpBlock2D' && t !== 'UpBlock2D') unsupported(source, `up_block_types[${i}]`, t, 'supported: "CrossAttnUpBlock2D", "UpBlock2D"');
  });
  const reverse = c.has('reverse_transformer_layers_per_block')
    ? perLevel(c, 'reverse_transformer_layers_per_block', n)
    : [...enc.transformer_layers_per_block].reverse();
  const convOut = c.positiveInt('conv_out_kernel', 3);
  if (convOut % 2 !== 1) unsupported(source, 'conv_out_kernel', convOut, 'odd kernel sizes only');
  return {
    ...enc,
    out_channels: c.positiveInt('out_channels', 4),
    up_block_types: upTypes as UpBlockType[],
    reverse_transformer_layers_per_block: reverse,
    conv_out_kernel: convOut,
    sample_size: c.has('sample_size') && typeof c.raw.sample_size === 'number' ? (c.raw.sample_size as number) : null,
  };
}
