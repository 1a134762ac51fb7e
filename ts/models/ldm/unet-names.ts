// Original CompVis/LDM UNet names -> diffusers names, following diffusers'
// convert_ldm_unet_checkpoint (v0.26). `keys` are LDM keys without the checkpoint prefix.
// Also used for the ControlNet's copy of the UNet encoder.

const resnetRenames: Array<[string, string]> = [
  ['in_layers.0.', 'norm1.'],
  ['in_layers.2.', 'conv1.'],
  ['out_layers.0.', 'norm2.'],
  ['out_layers.3.', 'conv2.'],
  ['emb_layers.1.', 'time_emb_proj.'],
  ['skip_connection.', 'conv_shortcut.'],
];

function renameResnet(rest: string): string {
  for (const [from, to] of resnetRenames) if (rest.startsWith(from)) return to + rest.slice(from.length);
  return rest;
}

/** Maps one LDM UNet key (prefix removed) to its diffusers name, or undefined if it is not a UNet tensor. */
export function unetNameFromLdm(key: string, layersPerBlock: number): string | undefined {
  const per = layersPerBlock + 1;
  if (key.startsWith('time_embed.0.')) return `time_embedding.linear_1.${key.slice(13)}`;
  if (key.startsWith('time_embed.2.')) return `time_embedding.linear_2.${key.slice(13)}`;
  if (key.startsWith('label_emb.0.0.')) return `add_embedding.linear_1.${key.slice(14)}`; // SDXL's added embedding
  if (key.startsWith('label_emb.0.2.')) return `add_embedding.linear_2.${key.slice(14)}`;
  if (key.startsWith('input_blocks.0.0.')) return `conv_in.${key.slice(17)}`;
  if (key.startsWith('out.0.')) return `conv_norm_out.${key.slice(6)}`;
  if (key.startsWith('out.2.')) return `conv_out.${key.slice(6)}`;
  let m = /^input_blocks\.(\d+)\.(\d+)\.(.+)$/.exec(key);
  if (m) {
    const i = Number(m[1]);
    const j = Number(m[2]);
    const rest = m[3]!;
    const block = Math.floor((i - 1) / per);
    const layer = (i - 1) % per;
    if (j === 0 && rest.startsWith('op.')) return `down_blocks.${block}.downsamplers.0.conv.${rest.slice(3)}`;
    if (j === 0) return `down_blocks.${block}.resnets.${layer}.${renameResnet(rest)}`;
    if (j === 1) return `down_blocks.${block}.attentions.${layer}.${rest}`;
    return undefined;
  }
  m = /^middle_block\.(\d+)\.(.+)$/.exec(key);
  if (m) {
    const j = Number(m[1]);
    const rest = m[2]!;
    if (j === 0) return `mid_block.resnets.0.${renameResnet(rest)}`;
    if (j === 1) return `mid_block.attentions.0.${rest}`;
    if (j === 2) return `mid_block.resnets.1.${renameResnet(rest)}`;
    return undefined;
  }
  m = /^output_blocks\.(\d+)\.(\d+)\.(.+)$/.exec(key);
  if (m) {
    const i = Number(m[1]);
    const j = Number(m[2]);
    const rest = m[3]!;
    const block = Math.floor(i / per);
    const layer = i % per;
    if (j === 0) return `up_blocks.${block}.resnets.${layer}.${renameResnet(rest)}`;
    if (rest.startsWith('conv.')) return `up_blocks.${block}.upsamplers.0.conv.${rest.slice(5)}`;
    if (j === 1) return `up_blocks.${block}.attentions.${layer}.${rest}`;
    return undefined;
  }
  return undefined;
}

/** LDM layers_per_block from the keys: input blocks per level minus the downsampler. */
export function ldmLayersPerBlock(keys: string[], levels: number): number {
  let maxInput = 0;
  for (const k of keys) {
    const m = /^input_blocks\.(\d+)\./.exec(k);
    if (m) maxInput = Math.max(maxInput, Number(m[1]));
  }
  // input_blocks: 1 (conv_in) + levels * (L + 1) - 1 (no downsampler after the last level)
  return Math.round((maxInput + 1) / levels) - 1;
}
