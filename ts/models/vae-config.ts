// The AutoencoderKL config (vae/config.json of a diffusers folder): what indetail supports,
// checked before any weight is read. Absent fields take diffusers' AutoencoderKL defaults.
import { IndetailError } from '../errors.js';
import { ConfigChecker, type RawConfig } from './config-check.js';

export interface VaeConfig {
  inChannels: number;
  outChannels: number;
  latentChannels: number;
  blockOutChannels: number[];
  layersPerBlock: number;
  normNumGroups: number;
  /** Latents of the diffusion model = VAE mean × scalingFactor. */
  scalingFactor: number;
  /** Image pixels per latent pixel: 2^(blocks - 1). */
  factor: number;
}

export function parseVaeConfig(raw: RawConfig, source = 'vae/config.json'): VaeConfig {
  const c = new ConfigChecker(raw, source);
  c.only('_class_name', 'AutoencoderKL');
  c.oneOf('act_fn', ['silu'], 'silu');
  const unsupported = (field: string, message: string) => new IndetailError('ERR_INDETAIL_UNSUPPORTED', `${source}: ${field} ${message}`);
  const blockOutChannels = c.ints('block_out_channels', [64]);
  if (blockOutChannels.length === 0 || blockOutChannels.length > 8 || blockOutChannels.some((x) => x <= 0)) {
    throw unsupported('block_out_channels', `= ${JSON.stringify(blockOutChannels)} is not supported (1 to 8 positive channel counts)`);
  }
  const levels = blockOutChannels.length;
  const down = c.strings('down_block_types', ['DownEncoderBlock2D']);
  const up = c.strings('up_block_types', ['UpDecoderBlock2D']);
  checkBlockTypes(unsupported, 'down_block_types', down, 'DownEncoderBlock2D', levels);
  checkBlockTypes(unsupported, 'up_block_types', up, 'UpDecoderBlock2D', levels);
  const normNumGroups = c.positiveInt('norm_num_groups', 32);
  blockOutChannels.forEach((ch, i) => {
    if (ch % normNumGroups !== 0) {
      throw unsupported('norm_num_groups', `= ${normNumGroups} does not divide block_out_channels[${i}] = ${ch}`);
    }
  });
  c.only('mid_block_add_attention', true);
  c.only('use_quant_conv', true);
  c.only('use_post_quant_conv', true);
  // Latent statistics of newer autoencoders (SD3, Flux...): the pipelines here would ignore them.
  c.only('shift_factor', null);
  c.only('latents_mean', null);
  c.only('latents_std', null);
  const scalingFactor = c.number('scaling_factor', 0.18215);
  if (!(scalingFactor > 0)) throw unsupported('scaling_factor', `= ${scalingFactor} must be positive`);
  return {
    inChannels: c.positiveInt('in_channels', 3),
    outChannels: c.positiveInt('out_channels', 3),
    latentChannels: c.positiveInt('latent_channels', 4),
    blockOutChannels,
    layersPerBlock: c.positiveInt('layers_per_block', 1),
    normNumGroups,
    scalingFactor,
    factor: 2 ** (levels - 1),
  };
}

function checkBlockTypes(
  unsupported: (field: string, message: string) => Error,
  field: string,
  types: string[],
  only: string,
  levels: number,
): void {
  if (types.length !== levels) {
    throw unsupported(field, `lists ${types.length} blocks but block_out_channels has ${levels} levels`);
  }
  types.forEach((t, i) => {
    if (t !== only) throw unsupported(`${field}[${i}]`, `= ${JSON.stringify(t)} is not supported (only ${JSON.stringify(only)})`);
  });
}

/** @internal The normalised config the native loader reads (engine/models/vae.h VaeConfig::parse). */
export function nativeVaeConfig(cfg: VaeConfig): string {
  return JSON.stringify({
    in_channels: cfg.inChannels,
    out_channels: cfg.outChannels,
    latent_channels: cfg.latentChannels,
    block_out_channels: cfg.blockOutChannels,
    layers_per_block: cfg.layersPerBlock,
    norm_num_groups: cfg.normNumGroups,
  });
}
