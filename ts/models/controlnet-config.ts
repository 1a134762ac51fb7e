// Validation and normalisation of a diffusers ControlNetModel config.json: the UNet encoder
// fields (ts/models/unet-config.ts) plus the conditioning-image embedding.
import { ConfigChecker, type RawConfig } from './config-check.js';
import { normalizeUNetEncoderConfig, type UNetEncoderConfig } from './unet-config.js';
import { IndetailError } from '../errors.js';

export interface ControlNetConfig extends UNetEncoderConfig {
  conditioning_channels: number;
  conditioning_embedding_out_channels: number[];
  controlnet_conditioning_channel_order: 'rgb';
}

/** Validates a diffusers ControlNetModel config and spells it out for the engine. */
export function normalizeControlNetConfig(raw: RawConfig, source = 'ControlNet config'): ControlNetConfig {
  const c = new ConfigChecker(raw, source);
  if (c.has('_class_name')) c.oneOf('_class_name', ['ControlNetModel'], 'ControlNetModel');
  c.oneOf('controlnet_conditioning_channel_order', ['rgb'], 'rgb');
  const enc = normalizeUNetEncoderConfig(raw, source);
  if (enc.addition_embed_type !== null) {
    throw new IndetailError('ERR_INDETAIL_UNSUPPORTED', `${source}: addition_embed_type = ${JSON.stringify(enc.addition_embed_type)} (an SDXL ControlNet) is not supported`);
  }
  const ce = c.ints('conditioning_embedding_out_channels', [16, 32, 96, 256]);
  if (ce.length === 0 || ce.some((x) => x <= 0)) {
    throw new IndetailError(
      'ERR_INDETAIL_BAD_FILE',
      `${source}: expected a non-empty list of positive integers for 'conditioning_embedding_out_channels' but found ${JSON.stringify(ce)}`,
    );
  }
  return {
    ...enc,
    conditioning_channels: c.positiveInt('conditioning_channels', 3),
    conditioning_embedding_out_channels: ce,
    controlnet_conditioning_channel_order: 'rgb',
  };
}
