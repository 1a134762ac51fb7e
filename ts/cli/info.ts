// `indetail info <model>`: what indetail detects in a model folder or checkpoint, without loading weights.
import type { CommandModule } from 'yargs';
import { locateModel, type ModelFiles } from '../models/model-files.js';

export function describeModel(files: ModelFiles): Record<string, unknown> {
  const u = files.unet.config;
  const v = files.vae.config;
  const t = files.textEncoder.config;
  return {
    path: files.path,
    kind: files.kind,
    family: files.singleFile?.family ?? 'sd1 (diffusers folder)',
    unet: {
      block_out_channels: u.block_out_channels,
      layers_per_block: u.layers_per_block,
      cross_attention_dim: u.cross_attention_dim,
      attention_head_dim: u.attention_head_dim,
      sample_size: u.sample_size,
    },
    vae: { block_out_channels: v.block_out_channels, latent_channels: v.latent_channels, scaling_factor: v.scaling_factor },
    text_encoder: { hidden_size: t.hidden_size, num_hidden_layers: t.num_hidden_layers, num_attention_heads: t.num_attention_heads },
    tokenizer: files.tokenizerDir,
    scheduler: 'DDIM (the reference configuration)',
  };
}

export const infoCommand: CommandModule<object, { model: string; config?: string; json?: boolean }> = {
  command: 'info <model>',
  describe: 'Show what indetail detects in a model folder or single-file checkpoint',
  builder: (y) =>
    y
      .positional('model', { type: 'string', demandOption: true, describe: 'diffusers folder or .safetensors' })
      .option('config', { type: 'string', describe: 'for single files: a folder of diffusers configs' })
      .option('json', { type: 'boolean' })
      .strict() as never,
  handler: async (a) => {
    const d = describeModel(await locateModel(a.model, a.config));
    if (a.json) {
      process.stdout.write(`${JSON.stringify(d, null, 2)}\n`);
      return;
    }
    for (const [k, val] of Object.entries(d)) process.stdout.write(`${k}: ${typeof val === 'object' ? JSON.stringify(val) : String(val)}\n`);
  },
};
