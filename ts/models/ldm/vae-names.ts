// Original LDM VAE names (first_stage_model.*) -> diffusers AutoencoderKL names, following
// diffusers' convert_ldm_vae_checkpoint (v0.26). The decoder's up blocks are numbered in reverse.

const midAttention: Record<string, string> = { norm: 'group_norm', q: 'to_q', k: 'to_k', v: 'to_v', proj_out: 'to_out.0' };

function renameResnet(rest: string): string {
  return rest.startsWith('nin_shortcut.') ? `conv_shortcut.${rest.slice(13)}` : rest;
}

/** Maps one LDM VAE key (prefix removed) to its diffusers name. `upBlocks` = number of decoder up blocks. */
export function vaeNameFromLdm(key: string, upBlocks: number): string | undefined {
  if (key.startsWith('quant_conv.') || key.startsWith('post_quant_conv.')) return key;
  const m = /^(encoder|decoder)\.(.+)$/.exec(key);
  if (!m) return undefined;
  const part = m[1]!;
  const rest = m[2]!;
  if (rest.startsWith('conv_in.') || rest.startsWith('conv_out.')) return `${part}.${rest}`;
  if (rest.startsWith('norm_out.')) return `${part}.conv_norm_out.${rest.slice(9)}`;
  let r = /^down\.(\d+)\.block\.(\d+)\.(.+)$/.exec(rest);
  if (r) return `${part}.down_blocks.${r[1]}.resnets.${r[2]}.${renameResnet(r[3]!)}`;
  r = /^down\.(\d+)\.downsample\.conv\.(.+)$/.exec(rest);
  if (r) return `${part}.down_blocks.${r[1]}.downsamplers.0.conv.${r[2]}`;
  r = /^up\.(\d+)\.block\.(\d+)\.(.+)$/.exec(rest);
  if (r) return `${part}.up_blocks.${upBlocks - 1 - Number(r[1])}.resnets.${r[2]}.${renameResnet(r[3]!)}`;
  r = /^up\.(\d+)\.upsample\.conv\.(.+)$/.exec(rest);
  if (r) return `${part}.up_blocks.${upBlocks - 1 - Number(r[1])}.upsamplers.0.conv.${r[2]}`;
  r = /^mid\.block_([12])\.(.+)$/.exec(rest);
  if (r) return `${part}.mid_block.resnets.${Number(r[1]) - 1}.${renameResnet(r[2]!)}`;
  r = /^mid\.attn_1\.(norm|q|k|v|proj_out)\.(.+)$/.exec(rest);
  if (r) return `${part}.mid_block.attentions.0.${midAttention[r[1]!]}.${r[2]}`;
  return undefined;
}

export function ldmVaeUpBlocks(keys: string[]): number {
  let max = -1;
  for (const k of keys) {
    const m = /^decoder\.up\.(\d+)\./.exec(k);
    if (m) max = Math.max(max, Number(m[1]));
  }
  return max + 1;
}
