// Original ControlNet names (input_blocks, zero_convs, input_hint_block, middle_block_out) ->
// diffusers ControlNetModel names, following diffusers' convert_controlnet_checkpoint (v0.26).
import { unetNameFromLdm } from './unet-names.js';

/** `hintConvs` = number of conv layers in input_hint_block (their indices are 0, 2, 4, ...). */
export function controlnetNameFromLdm(key: string, layersPerBlock: number, hintConvs: number): string | undefined {
  let m = /^zero_convs\.(\d+)\.0\.(.+)$/.exec(key);
  if (m) return `controlnet_down_blocks.${m[1]}.${m[2]}`;
  m = /^middle_block_out\.0\.(.+)$/.exec(key);
  if (m) return `controlnet_mid_block.${m[1]}`;
  m = /^input_hint_block\.(\d+)\.(.+)$/.exec(key);
  if (m) {
    const idx = Number(m[1]);
    if (idx % 2 !== 0) return undefined;
    const conv = idx / 2;
    if (conv === 0) return `controlnet_cond_embedding.conv_in.${m[2]}`;
    if (conv === hintConvs - 1) return `controlnet_cond_embedding.conv_out.${m[2]}`;
    return `controlnet_cond_embedding.blocks.${conv - 1}.${m[2]}`;
  }
  if (key.startsWith('out.') || key.startsWith('output_blocks.')) return undefined;
  return unetNameFromLdm(key, layersPerBlock);
}

export function ldmHintConvs(keys: string[]): number {
  const idx = new Set<number>();
  for (const k of keys) {
    const m = /^input_hint_block\.(\d+)\.weight$/.exec(k);
    if (m) idx.add(Number(m[1]));
  }
  return idx.size;
}
