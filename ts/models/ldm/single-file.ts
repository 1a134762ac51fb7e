// Reads a single-file Stable Diffusion checkpoint (.safetensors in the original LDM / sgm naming):
// recognises its family from the key prefix of its text encoders (family/index.ts), and builds,
// per component, the name map from diffusers names to the file's keys plus the shape facts that
// must agree with the config used to load it. UNet and VAE names are shared by the families; the
// text encoders' are the family's.
import { IndetailError } from '../../errors.js';
import type { SafetensorsFile } from '../../safetensors.js';
import { detectSingleFileFamily, FAMILIES, type ModelFamily, type SingleFileTextEncoder } from '../family/index.js';
import { controlnetNameFromLdm, ldmHintConvs } from './controlnet-names.js';
import { buildMap } from './map-utils.js';
import { ldmLayersPerBlock, unetNameFromLdm } from './unet-names.js';
import { ldmVaeUpBlocks, vaeNameFromLdm } from './vae-names.js';

export const UNET_PREFIX = 'model.diffusion_model.';
export const VAE_PREFIX = 'first_stage_model.';

export interface ComponentMap {
  /** diffusers name -> full key in the file */
  map: Record<string, string>;
}

export interface SingleFileSD {
  family: ModelFamily;
  /** Why the file is of that family (for `indetail info`). */
  familyReason: string;
  unet: ComponentMap & {
    layersPerBlock: number;
    inChannels: number;
    modelChannels: number;
    crossAttentionDim: number;
    /** Input width of the added embedding (SDXL's label_emb: pooled text + time ids), when the UNet has one. */
    addedEmbeddingInputs?: number;
  };
  vae: ComponentMap & { upBlocks: number; latentChannels: number };
  /** Every layer the file holds, per text encoder of the family; fitted to the configs by ldm/text-encoder-fit.ts. */
  textEncoders: SingleFileTextEncoder[];
}

function unsupported(file: string, what: string): never {
  throw new IndetailError('ERR_INDETAIL_UNSUPPORTED', `${file}: ${what}`);
}

function shapeOf(file: SafetensorsFile, key: string): number[] | undefined {
  return file.entry(key)?.shape;
}


export function inspectSingleFile(file: SafetensorsFile): SingleFileSD {
  const path = file.path;
  const names = file.names();
  const has = (prefix: string) => names.some((n) => n.startsWith(prefix));
  if (!has(UNET_PREFIX)) {
    unsupported(path, `no UNet found (no '${UNET_PREFIX}*' tensors): not a single-file Stable Diffusion checkpoint` +
      (has('input_hint_block.') || has('control_model.') ? ' (it looks like a ControlNet: pass it as the controlnet)' : ''));
  }
  if (!has(VAE_PREFIX)) unsupported(path, `no VAE found (no '${VAE_PREFIX}*' tensors)`);
  const match = detectSingleFileFamily(names);
  if (!match) unsupported(path, `no text encoder found (no ${FAMILIES.map((f) => `'${f.singleFile.textEncoderPrefix}*'`).join(' or ')} tensors)`);
  const { family, reason } = match;

  const convIn = shapeOf(file, `${UNET_PREFIX}input_blocks.0.0.weight`);
  if (!convIn || convIn.length !== 4) unsupported(path, 'the UNet has no input convolution input_blocks.0.0.weight');
  const [modelChannels, inChannels] = convIn as [number, number];
  if (inChannels !== 4) {
    unsupported(path, `the UNet takes ${inChannels} input channels (${inChannels === 9 ? 'an inpainting model' : inChannels === 8 ? 'an instruct-pix2pix model' : 'not a text-to-image model'}); indetail needs a 4-channel text-to-image UNet`);
  }
  const toK = names.find((n) => n.startsWith(`${UNET_PREFIX}input_blocks.`) && n.endsWith('attn2.to_k.weight'));
  if (!toK) unsupported(path, 'the UNet has no cross-attention (attn2.to_k) weights');
  const crossAttentionDim = shapeOf(file, toK)![1]!;
  const textEncoders = family.singleFile.inspectTextEncoders(file);
  const textWidth = textEncoders.reduce((sum, te) => sum + te.hiddenSize, 0);
  if (textWidth !== crossAttentionDim) {
    unsupported(path, `the UNet cross-attends to ${crossAttentionDim}-wide text states but its ${family.name} text encoders ` +
      `(${family.singleFile.textEncoderPrefix}*) give ${textEncoders.map((te) => te.hiddenSize).join(' + ')}: not one ${family.name} checkpoint`);
  }
  const labelEmb = shapeOf(file, `${UNET_PREFIX}label_emb.0.0.weight`);

  const unetKeys = names.filter((n) => n.startsWith(UNET_PREFIX)).map((n) => n.slice(UNET_PREFIX.length));
  const levels = new Set(unetKeys.filter((k) => /^input_blocks\.\d+\.0\.op\./.test(k)).map((k) => k.split('.')[1])).size + 1;
  const layersPerBlock = ldmLayersPerBlock(unetKeys, levels);
  const vaeKeys = names.filter((n) => n.startsWith(VAE_PREFIX)).map((n) => n.slice(VAE_PREFIX.length));
  const upBlocks = ldmVaeUpBlocks(vaeKeys);
  const quant = shapeOf(file, `${VAE_PREFIX}quant_conv.weight`);

  return {
    family,
    familyReason: reason,
    unet: {
      map: buildMap(names, UNET_PREFIX, (k) => unetNameFromLdm(k, layersPerBlock)),
      layersPerBlock,
      inChannels,
      modelChannels,
      crossAttentionDim,
      ...(labelEmb?.length === 2 ? { addedEmbeddingInputs: labelEmb[1]! } : {}),
    },
    vae: {
      map: buildMap(names, VAE_PREFIX, (k) => vaeNameFromLdm(k, upBlocks)),
      upBlocks,
      latentChannels: quant ? quant[0]! / 2 : 4,
    },
    textEncoders,
  };
}

/** A single-file ControlNet (original naming, with or without the 'control_model.' prefix). */
export function inspectControlNetFile(file: SafetensorsFile, layersPerBlock: number): ComponentMap {
  const names = file.names();
  const prefix = names.some((n) => n.startsWith('control_model.')) ? 'control_model.' : '';
  const keys = names.filter((n) => n.startsWith(prefix)).map((n) => n.slice(prefix.length));
  if (!keys.some((k) => k.startsWith('input_hint_block.')) || !keys.some((k) => k.startsWith('zero_convs.'))) {
    unsupported(file.path, 'not a ControlNet checkpoint (no input_hint_block / zero_convs tensors)');
  }
  const hint = ldmHintConvs(keys);
  return { map: buildMap(names, prefix, (k) => controlnetNameFromLdm(k, layersPerBlock, hint)) };
}
