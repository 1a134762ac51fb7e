// `indetail info <model>`: what indetail detects in a model folder or checkpoint, without loading weights.
import type { CommandModule } from 'yargs';
import { PREDICTION_TYPES } from '../models/family/prediction-type.js';
import { locateModel, type ModelFiles } from '../models/model-files.js';
import { TASK_DEFAULTS } from '../pipeline/defaults.js';
import type { PredictionType } from '../scheduler/config.js';

export function describeModel(files: ModelFiles): Record<string, unknown> {
  const u = files.unet.config;
  const v = files.vae.config;
  const textEncoders = Object.fromEntries(
    files.textEncoders.map((te, i) => {
      const t = te.config;
      const inFile = files.singleFile?.textEncoders[i];
      return [
        te.folder,
        {
          hidden_size: t.hidden_size,
          num_hidden_layers: t.num_hidden_layers,
          num_attention_heads: t.num_attention_heads,
          hidden_act: t.hidden_act ?? 'quick_gelu',
          ...(inFile ? { layers_in_file: inFile.layers } : {}),
          tokenizer: te.tokenizerDir,
        },
      ];
    }),
  );
  return {
    path: files.path,
    kind: files.kind,
    family: `${files.family.id} (${files.family.name}): ${files.familyReason}`,
    prediction_type: `${files.prediction.type}: ${files.prediction.reason}`,
    conditioning: files.family.conditioning.description,
    unet: {
      block_out_channels: u.block_out_channels,
      layers_per_block: u.layers_per_block,
      transformer_layers_per_block: u.transformer_layers_per_block ?? 1,
      cross_attention_dim: u.cross_attention_dim,
      attention_head_dim: u.attention_head_dim,
      addition_embed_type: u.addition_embed_type ?? null,
      sample_size: u.sample_size,
    },
    vae: {
      block_out_channels: v.block_out_channels,
      latent_channels: v.latent_channels,
      scaling_factor: v.scaling_factor,
      ...(files.family.vaeNeedsUpcast(v) ? { precision: 'bf16 on CUDA (force_upcast: it overflows in fp16)' } : {}),
    },
    ...textEncoders,
    default_size: typeof u.sample_size === 'number' ? u.sample_size * 8 : null,
    default_guidance_scale: files.family.defaults.guidanceScale ?? TASK_DEFAULTS.variation.guidanceScale,
    ...(Object.keys(files.family.unsupportedTasks).length ? { unsupported_tasks: files.family.unsupportedTasks } : {}),
    scheduler: `DDIM (the reference configuration, ${files.prediction.type})`,
  };
}

export const infoCommand: CommandModule<object, { model: string; config?: string; 'prediction-type'?: PredictionType; json?: boolean }> = {
  command: 'info <model>',
  describe: 'Show what indetail detects in a model folder or single-file checkpoint',
  builder: (y) =>
    y
      .positional('model', { type: 'string', demandOption: true, describe: 'diffusers folder or .safetensors' })
      .option('config', { type: 'string', describe: 'for single files: a folder of diffusers configs' })
      .option('prediction-type', { choices: PREDICTION_TYPES, describe: 'check this prediction type against the model' })
      .option('json', { type: 'boolean' })
      .strict() as never,
  handler: async (a) => {
    const d = describeModel(await locateModel(a.model, a.config, { predictionType: a['prediction-type'] }));
    if (a.json) {
      process.stdout.write(`${JSON.stringify(d, null, 2)}\n`);
      return;
    }
    for (const [k, val] of Object.entries(d)) process.stdout.write(`${k}: ${typeof val === 'object' ? JSON.stringify(val) : String(val)}\n`);
  },
};
