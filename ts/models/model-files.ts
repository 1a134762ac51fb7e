// Finds the parts of a Stable Diffusion model on disk: a diffusers folder (model_index.json with
// unet/, vae/, text_encoder/, tokenizer/, scheduler/) or a single-file SD1.x checkpoint
// (.safetensors in the original LDM naming, loaded with the shipped SD1.5 configs adjusted to the
// file's shapes, or with the configs of a folder the caller names). Pickle checkpoints are refused.
import path from 'node:path';
import { IndetailError } from '../errors.js';
import { checkFolder, checkRegularFile, fileOrFolder, pathExists } from '../files/input-file.js';
import { packageRoot } from '../native/addon.js';
import { openSafetensors } from '../safetensors.js';
import { readConfigFile, type RawConfig } from './config-check.js';
import { inspectControlNetFile, inspectSingleFile, UNET_PREFIX, VAE_PREFIX, type SingleFileSD } from './ldm/single-file.js';
import { componentWeights, type WeightSpec } from './weights.js';

export const PICKLE_EXTENSIONS = ['.ckpt', '.pt', '.pth', '.bin', '.pkl'];

export interface ComponentFiles {
  config: RawConfig;
  weights: WeightSpec;
}

export interface ModelFiles {
  kind: 'diffusers' | 'single-file';
  path: string;
  unet: ComponentFiles;
  vae: ComponentFiles;
  textEncoder: ComponentFiles;
  tokenizerDir: string;
  /** scheduler_config.json of the model, if it has one (the method uses the reference DDIM config). */
  schedulerConfigPath?: string;
  /** What the single-file inspection found (for `indetail info`). */
  singleFile?: SingleFileSD;
}

export const shippedConfigDir = path.join(packageRoot, 'configs', 'sd15');
export const shippedControlNetConfigDir = path.join(packageRoot, 'configs', 'sd15-controlnet');

function refusePickle(file: string): void {
  const ext = path.extname(file).toLowerCase();
  if (PICKLE_EXTENSIONS.includes(ext)) {
    throw new IndetailError(
      'ERR_INDETAIL_UNSUPPORTED',
      `${file} is a pickle checkpoint (${ext}), which indetail never loads: unpickling can execute arbitrary code. ` +
        'Convert it to .safetensors first (e.g. with the safetensors "convert" space, or diffusers: ' +
        'StableDiffusionPipeline.from_single_file(path).save_pretrained(out, safe_serialization=True)).',
    );
  }
}

/** `file`, checked to be a regular file ("<what> not found: <file>" when missing). */
async function need(file: string, what: string): Promise<string> {
  if (!(await pathExists(file))) throw new IndetailError('ERR_INDETAIL_IO', `${what} not found: ${file}`);
  await checkRegularFile(what, file);
  return file;
}

/** `dir`, checked to be a folder ("<what> not found: <dir>" when missing). */
async function needFolder(dir: string, what: string): Promise<string> {
  if (!(await pathExists(dir))) throw new IndetailError('ERR_INDETAIL_IO', `${what} not found: ${dir}`);
  await checkFolder(what, dir);
  return dir;
}

async function diffusersFolder(dir: string): Promise<ModelFiles> {
  const index = await readConfigFile(await need(path.join(dir, 'model_index.json'), 'model_index.json'));
  const cls = index._class_name;
  if (typeof cls === 'string' && !/^StableDiffusion(ControlNet)?Pipeline$/.test(cls)) {
    throw new IndetailError('ERR_INDETAIL_UNSUPPORTED', `${dir}: model_index.json describes a ${cls}; indetail loads Stable Diffusion 1.x pipelines`);
  }
  const component = async (name: string, basenames: string[]): Promise<ComponentFiles> => {
    const sub = path.join(dir, name);
    if (!(await pathExists(sub))) throw new IndetailError('ERR_INDETAIL_IO', `${dir} has no ${name}/ folder (is this a diffusers model folder?)`);
    await checkFolder(`${name}/ of the model`, sub);
    return { config: await readConfigFile(await need(path.join(sub, 'config.json'), `${name}/config.json`)), weights: await componentWeights(sub, basenames) };
  };
  const scheduler = path.join(dir, 'scheduler', 'scheduler_config.json');
  return {
    kind: 'diffusers',
    path: dir,
    unet: await component('unet', ['diffusion_pytorch_model']),
    vae: await component('vae', ['diffusion_pytorch_model']),
    textEncoder: await component('text_encoder', ['model']),
    tokenizerDir: await needFolder(path.join(dir, 'tokenizer'), 'tokenizer/ folder'),
    ...((await pathExists(scheduler)) ? { schedulerConfigPath: scheduler } : {}),
  };
}

/** Block widths per level, read from the single file's tensor shapes. */
function levelWidths(file: Awaited<ReturnType<typeof openSafetensors>>, keyOf: (level: number) => string, levels: number): number[] | undefined {
  const out: number[] = [];
  for (let b = 0; b < levels; b++) {
    const shape = file.entry(keyOf(b))?.shape;
    if (!shape) return undefined;
    out.push(shape[0]!);
  }
  return out;
}

async function singleFile(file: string, configDir: string | undefined): Promise<ModelFiles> {
  const st = await openSafetensors(file);
  const info = inspectSingleFile(st);
  const dir = configDir ?? shippedConfigDir;
  const unetConfig = await readConfigFile(await need(path.join(dir, 'unet', 'config.json'), 'unet/config.json'));
  const vaeConfig = await readConfigFile(await need(path.join(dir, 'vae', 'config.json'), 'vae/config.json'));
  const textConfig = await readConfigFile(await need(path.join(dir, 'text_encoder', 'config.json'), 'text_encoder/config.json'));
  if (!configDir) {
    // The shipped configs are SD1.5's; adopt the widths the file actually has (they are not
    // otherwise recorded in a single file), so fine-tunes with other widths load too.
    const L = info.unet.layersPerBlock;
    const levels = (unetConfig.block_out_channels as number[]).length;
    const unetWidths = levelWidths(st, (b) => `${UNET_PREFIX}input_blocks.${1 + b * (L + 1)}.0.out_layers.3.weight`, levels);
    if (unetWidths) unetConfig.block_out_channels = unetWidths;
    unetConfig.layers_per_block = L;
    unetConfig.cross_attention_dim = info.unet.crossAttentionDim;
    const vaeLevels = (vaeConfig.block_out_channels as number[]).length;
    const vaeWidths = levelWidths(st, (b) => `${VAE_PREFIX}encoder.down.${b}.block.0.conv2.weight`, vaeLevels);
    if (vaeWidths) vaeConfig.block_out_channels = vaeWidths;
    vaeConfig.latent_channels = info.vae.latentChannels;
    if (info.textEncoder.hiddenSize !== textConfig.hidden_size || info.textEncoder.layers !== textConfig.num_hidden_layers) {
      throw new IndetailError(
        'ERR_INDETAIL_UNSUPPORTED',
        `${file}: its text encoder (width ${info.textEncoder.hiddenSize}, ${info.textEncoder.layers} layers) is not SD1.5's CLIP ViT-L/14 ` +
          `(width ${String(textConfig.hidden_size)}, ${String(textConfig.num_hidden_layers)} layers); pass the folder of its diffusers configs as the config option`,
      );
    }
  }
  const spec = (map: Record<string, string>): WeightSpec => ({ files: [{ file: st }], map });
  const tokenizerDir = (await pathExists(path.join(dir, 'tokenizer'))) ? path.join(dir, 'tokenizer') : path.join(shippedConfigDir, 'tokenizer');
  const scheduler = path.join(dir, 'scheduler', 'scheduler_config.json');
  return {
    kind: 'single-file',
    path: file,
    unet: { config: unetConfig, weights: spec(info.unet.map) },
    vae: { config: vaeConfig, weights: spec(info.vae.map) },
    textEncoder: { config: textConfig, weights: spec(info.textEncoder.map) },
    tokenizerDir,
    ...((await pathExists(scheduler)) ? { schedulerConfigPath: scheduler } : {}),
    singleFile: info,
  };
}

/**
 * Locates the components of a model. `configDir`: for single files, a diffusers folder whose
 * configs (and tokenizer) to use instead of the shipped SD1.5 ones.
 */
export async function locateModel(modelPath: string, configDir?: string): Promise<ModelFiles> {
  if (typeof modelPath !== 'string' || modelPath.length === 0) {
    throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `Expected a model folder or .safetensors file for model but received ${JSON.stringify(modelPath)}`);
  }
  if (!(await pathExists(modelPath))) throw new IndetailError('ERR_INDETAIL_IO', `model not found: ${modelPath}`);
  refusePickle(modelPath);
  if (configDir !== undefined) {
    if (typeof configDir !== 'string' || configDir.length === 0) {
      throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `Expected a folder of diffusers configs for config but received ${JSON.stringify(configDir)}`);
    }
    await needFolder(configDir, 'config folder');
  }
  if ((await fileOrFolder('model', modelPath)) === 'folder') {
    if (configDir !== undefined) {
      throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `config is only used with single-file checkpoints; ${modelPath} is a diffusers folder with its own configs`);
    }
    return diffusersFolder(modelPath);
  }
  if (path.extname(modelPath).toLowerCase() !== '.safetensors') {
    throw new IndetailError('ERR_INDETAIL_UNSUPPORTED', `${modelPath}: expected a diffusers model folder or a .safetensors checkpoint`);
  }
  return singleFile(modelPath, configDir);
}

/**
 * A model made of the configs of a diffusers-style folder (default: the shipped SD1.5 configs)
 * and seeded random weights: full-size benchmarks and memory tests without checkpoints.
 */
export async function randomModel(seed: number, configDir: string = shippedConfigDir): Promise<ModelFiles> {
  const cfg = async (name: string) => readConfigFile(await need(path.join(configDir, name, 'config.json'), `${name}/config.json`));
  return {
    kind: 'diffusers',
    path: `${configDir} (random weights, seed ${seed})`,
    unet: { config: await cfg('unet'), weights: { random: seed } },
    vae: { config: await cfg('vae'), weights: { random: seed + 1 } },
    textEncoder: { config: await cfg('text_encoder'), weights: { random: seed + 2 } },
    tokenizerDir: await needFolder(path.join(configDir, 'tokenizer'), 'tokenizer/ folder'),
  };
}

/** A ControlNet: a diffusers ControlNetModel folder or a single .safetensors file. */
export async function locateControlNet(controlPath: string, layersPerBlock: number, configDir?: string): Promise<ComponentFiles> {
  if (typeof controlPath !== 'string' || controlPath.length === 0) {
    throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `Expected a ControlNet folder or .safetensors file for controlnet but received ${JSON.stringify(controlPath)}`);
  }
  if (!(await pathExists(controlPath))) throw new IndetailError('ERR_INDETAIL_IO', `ControlNet not found: ${controlPath}`);
  refusePickle(controlPath);
  if ((await fileOrFolder('ControlNet', controlPath)) === 'folder') {
    return {
      config: await readConfigFile(await need(path.join(controlPath, 'config.json'), 'ControlNet config.json')),
      weights: await componentWeights(controlPath, ['diffusion_pytorch_model']),
    };
  }
  const st = await openSafetensors(controlPath);
  const { map } = inspectControlNetFile(st, layersPerBlock);
  const config = await readConfigFile(path.join(configDir ?? shippedControlNetConfigDir, 'config.json'));
  return { config, weights: { files: [{ file: st }], map } };
}
