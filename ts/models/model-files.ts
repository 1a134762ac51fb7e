// Finds the parts of a Stable Diffusion model on disk: a diffusers folder (model_index.json with
// unet/, vae/, text_encoder/, tokenizer/, scheduler/) or a single-file SD 1.x / 2.x checkpoint
// (.safetensors in the original LDM naming, loaded with its family's shipped configs adjusted to
// the file's shapes, or with the configs of a folder the caller names), with its model family and
// prediction type. Pickle checkpoints are refused.
import path from 'node:path';
import { IndetailError } from '../errors.js';
import { checkFolder, checkRegularFile, fileOrFolder, pathExists } from '../files/input-file.js';
import { openSafetensors, type SafetensorsFile } from '../safetensors.js';
import { loadSchedulerConfig, type PredictionType } from '../scheduler/config.js';
import { readConfigFile, type RawConfig } from './config-check.js';
import { checkPipelineClass, detectFolderFamily, shippedSchedulerConfig, SD1, type ModelFamily } from './family/index.js';
import { checkPredictionType, predictionStatementsOfFile, resolvePredictionType, type PredictionChoice, type PredictionStatement } from './family/prediction-type.js';
import { inspectControlNetFile, inspectSingleFile, UNET_PREFIX, VAE_PREFIX, type SingleFileSD } from './ldm/single-file.js';
import { fitTextEncoder } from './ldm/text-encoder-fit.js';
import { componentWeights, refusePickle as refusePickleAs, type WeightMap, type WeightSpec } from './weights.js';

export { PICKLE_EXTENSIONS } from './weights.js';

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
  /** scheduler_config.json of the model, if it has one (the method uses the reference DDIM config with its prediction type). */
  schedulerConfigPath?: string;
  family: ModelFamily;
  /** Why the model is of that family. */
  familyReason: string;
  /** What the UNet predicts, and why (the one place the model's prediction type is decided). */
  prediction: PredictionChoice;
  /** What the single-file inspection found (for `indetail info`). */
  singleFile?: SingleFileSD;
}

/** How to read a model: the caller's prediction type, if any (see family/prediction-type.ts). */
export interface LocateOptions {
  predictionType?: PredictionType | undefined;
}

export const shippedConfigDir = SD1.configDir;
export const shippedControlNetConfigDir = SD1.controlnetConfigDir;

function refusePickle(file: string): void {
  refusePickleAs(
    file,
    'with the safetensors "convert" space, or diffusers: StableDiffusionPipeline.from_single_file(path).save_pretrained(out, safe_serialization=True)',
  );
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

/** A scheduler config's prediction type as a statement, when the folder has one. */
async function schedulerStatement(file: string): Promise<PredictionStatement[]> {
  if (!(await pathExists(file))) return [];
  return [{ type: (await loadSchedulerConfig(file)).predictionType, source: `${file} (prediction_type)` }];
}

async function choosePrediction(family: ModelFamily, statements: PredictionStatement[], user: PredictionType | undefined): Promise<PredictionChoice> {
  const shipped = await loadSchedulerConfig(shippedSchedulerConfig(family));
  return resolvePredictionType({ user, statements, familyDefault: shipped.predictionType, familyRule: family.predictionRule });
}

async function diffusersFolder(dir: string, options: LocateOptions): Promise<ModelFiles> {
  const index = await readConfigFile(await need(path.join(dir, 'model_index.json'), 'model_index.json'));
  checkPipelineClass(dir, index);
  const component = async (name: string, basenames: string[]): Promise<ComponentFiles> => {
    const sub = path.join(dir, name);
    if (!(await pathExists(sub))) throw new IndetailError('ERR_INDETAIL_IO', `${dir} has no ${name}/ folder (is this a diffusers model folder?)`);
    await checkFolder(`${name}/ of the model`, sub);
    return { config: await readConfigFile(await need(path.join(sub, 'config.json'), `${name}/config.json`)), weights: await componentWeights(sub, basenames) };
  };
  const scheduler = path.join(dir, 'scheduler', 'scheduler_config.json');
  const unet = await component('unet', ['diffusion_pytorch_model']);
  const textEncoder = await component('text_encoder', ['model']);
  const { family, reason } = detectFolderFamily(dir, { index, unet: unet.config, textEncoder: textEncoder.config });
  return {
    kind: 'diffusers',
    path: dir,
    unet,
    vae: await component('vae', ['diffusion_pytorch_model']),
    textEncoder,
    tokenizerDir: await needFolder(path.join(dir, 'tokenizer'), 'tokenizer/ folder'),
    ...((await pathExists(scheduler)) ? { schedulerConfigPath: scheduler } : {}),
    family,
    familyReason: reason,
    prediction: await choosePrediction(family, await schedulerStatement(scheduler), options.predictionType),
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

/**
 * The family's shipped configs describe its reference model; adopt the shapes the file actually
 * has (they are not otherwise recorded in a single file), so fine-tunes with other widths load too.
 */
function adoptFileShapes(st: SafetensorsFile, info: SingleFileSD, unetConfig: RawConfig, vaeConfig: RawConfig): void {
  const L = info.unet.layersPerBlock;
  const levels = (unetConfig.block_out_channels as number[]).length;
  const unetWidths = levelWidths(st, (b) => `${UNET_PREFIX}input_blocks.${1 + b * (L + 1)}.0.out_layers.3.weight`, levels);
  if (unetWidths) {
    unetConfig.block_out_channels = unetWidths;
    const heads = info.family.singleFile.unetHeads(unetWidths);
    if (!heads) {
      throw new IndetailError('ERR_INDETAIL_UNSUPPORTED', `${st.path}: its UNet widths ${JSON.stringify(unetWidths)} do not fit ${info.family.name}'s attention heads; pass the folder of its diffusers configs as the config option (CLI --config)`);
    }
    unetConfig.attention_head_dim = heads;
  }
  unetConfig.layers_per_block = L;
  unetConfig.cross_attention_dim = info.unet.crossAttentionDim;
  const vaeLevels = (vaeConfig.block_out_channels as number[]).length;
  const vaeWidths = levelWidths(st, (b) => `${VAE_PREFIX}encoder.down.${b}.block.0.conv2.weight`, vaeLevels);
  if (vaeWidths) vaeConfig.block_out_channels = vaeWidths;
  vaeConfig.latent_channels = info.vae.latentChannels;
}

async function singleFile(file: string, configDir: string | undefined, options: LocateOptions): Promise<ModelFiles> {
  const st = await openSafetensors(file);
  const info = inspectSingleFile(st);
  const family = info.family;
  const dir = configDir ?? family.configDir;
  const unetConfig = await readConfigFile(await need(path.join(dir, 'unet', 'config.json'), 'unet/config.json'));
  const vaeConfig = await readConfigFile(await need(path.join(dir, 'vae', 'config.json'), 'vae/config.json'));
  const textConfigFile = await need(path.join(dir, 'text_encoder', 'config.json'), 'text_encoder/config.json');
  const textConfig = await readConfigFile(textConfigFile);
  if (!configDir) adoptFileShapes(st, info, unetConfig, vaeConfig);
  const textMap = fitTextEncoder(file, family, info.textEncoder, textConfig, configDir ? textConfigFile : `the shipped ${family.name} text encoder config`);
  // A --config folder's scheduler states the prediction type; the shipped one is only the family's default.
  const scheduler = path.join(dir, 'scheduler', 'scheduler_config.json');
  const statements = [...predictionStatementsOfFile(st), ...(configDir ? await schedulerStatement(scheduler) : [])];
  const prediction = await choosePrediction(family, statements, options.predictionType);
  if (!configDir && typeof unetConfig.sample_size === 'number') unetConfig.sample_size = family.singleFile.sampleSize(prediction.type, unetConfig.sample_size);
  const spec = (map: WeightMap): WeightSpec => ({ files: [{ file: st }], map });
  const tokenizerDir = (await pathExists(path.join(dir, 'tokenizer'))) ? path.join(dir, 'tokenizer') : path.join(family.configDir, 'tokenizer');
  return {
    kind: 'single-file',
    path: file,
    unet: { config: unetConfig, weights: spec(info.unet.map) },
    vae: { config: vaeConfig, weights: spec(info.vae.map) },
    textEncoder: { config: textConfig, weights: spec(textMap) },
    tokenizerDir,
    ...((await pathExists(scheduler)) ? { schedulerConfigPath: scheduler } : {}),
    family,
    familyReason: info.familyReason,
    prediction,
    singleFile: info,
  };
}

/**
 * Locates the components of a model. `configDir`: for single files, a diffusers folder whose
 * configs (and tokenizer) to use instead of the family's shipped ones.
 */
export async function locateModel(modelPath: string, configDir?: string, options: LocateOptions = {}): Promise<ModelFiles> {
  if (typeof modelPath !== 'string' || modelPath.length === 0) {
    throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `Expected a model folder or .safetensors file for model but received ${JSON.stringify(modelPath)}`);
  }
  if (options.predictionType !== undefined) checkPredictionType(options.predictionType);
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
    return diffusersFolder(modelPath, options);
  }
  if (path.extname(modelPath).toLowerCase() !== '.safetensors') {
    throw new IndetailError('ERR_INDETAIL_UNSUPPORTED', `${modelPath}: expected a diffusers model folder or a .safetensors checkpoint`);
  }
  return singleFile(modelPath, configDir, options);
}

/**
 * A model made of the configs of a diffusers-style folder (default: the shipped SD1.5 configs)
 * and seeded random weights: full-size benchmarks and memory tests without checkpoints.
 */
export async function randomModel(seed: number, configDir: string = shippedConfigDir, options: LocateOptions = {}): Promise<ModelFiles> {
  const cfg = async (name: string) => readConfigFile(await need(path.join(configDir, name, 'config.json'), `${name}/config.json`));
  const unet = await cfg('unet');
  const text = await cfg('text_encoder');
  const indexFile = path.join(configDir, 'model_index.json');
  const index = (await pathExists(indexFile)) ? await readConfigFile(indexFile) : {};
  checkPipelineClass(configDir, index);
  const { family, reason } = detectFolderFamily(configDir, { index, unet, textEncoder: text });
  return {
    kind: 'diffusers',
    path: `${configDir} (random weights, seed ${seed})`,
    unet: { config: unet, weights: { random: seed } },
    vae: { config: await cfg('vae'), weights: { random: seed + 1 } },
    textEncoder: { config: text, weights: { random: seed + 2 } },
    tokenizerDir: await needFolder(path.join(configDir, 'tokenizer'), 'tokenizer/ folder'),
    family,
    familyReason: reason,
    prediction: await choosePrediction(family, await schedulerStatement(path.join(configDir, 'scheduler', 'scheduler_config.json')), options.predictionType),
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
