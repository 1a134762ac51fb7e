// Finds the parts of a Stable Diffusion model on disk: a diffusers folder (model_index.json with
// unet/, vae/, the text encoders and tokenizers its family's conditioning reads, scheduler/) or a
// single-file SD 1.x / 2.x / XL checkpoint (.safetensors in the original LDM / sgm naming, loaded
// with its family's shipped configs adjusted to the file's shapes, or with the configs of a folder
// the caller names), with its model family and prediction type. Pickle checkpoints are refused.
import path from 'node:path';
import { IndetailError } from '../errors.js';
import { checkFolder, checkRegularFile, fileOrFolder, pathExists } from '../files/input-file.js';
import { openSafetensors, type SafetensorsFile } from '../safetensors.js';
import { loadSchedulerConfig, type PredictionType } from '../scheduler/config.js';
import { readConfigFile, type RawConfig } from './config-check.js';
import type { TextEncoderFiles } from './conditioning/index.js';
import { checkPipelineClass, detectFolderFamily, shippedSchedulerConfig, SD1, type FolderConfigs, type ModelFamily } from './family/index.js';
import { checkPredictionType, predictionStatementsOfFile, resolvePredictionType, type PredictionChoice, type PredictionStatement } from './family/prediction-type.js';
import { inspectControlNetFile, inspectSingleFile, UNET_PREFIX, VAE_PREFIX, type SingleFileSD } from './ldm/single-file.js';
import { buildMap } from './ldm/map-utils.js';
import { fitTextEncoder } from './ldm/text-encoder-fit.js';
import { ldmVaeUpBlocks, vaeNameFromLdm } from './ldm/vae-names.js';
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
  /** The text encoders (with their tokenizers) of the family's conditioning, in its order. */
  textEncoders: TextEncoderFiles[];
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
export const shippedControlNetConfigDir = SD1.controlnetConfigDir!;

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

/** The family of a folder of diffusers configs, from model_index.json, unet/ and the text encoders. */
async function folderFamily(dir: string, index: RawConfig, unet: RawConfig): Promise<{ family: ModelFamily; reason: string }> {
  const textEncoder = await readConfigFile(await need(path.join(dir, 'text_encoder', 'config.json'), 'text_encoder/config.json'));
  const second = path.join(dir, 'text_encoder_2', 'config.json');
  const configs: FolderConfigs = { index, unet, textEncoder, ...((await pathExists(second)) ? { textEncoder2: await readConfigFile(second) } : {}) };
  return detectFolderFamily(dir, configs);
}

/** The family's text encoders of a diffusers folder (or a folder of configs with `weights` for them). */
async function folderTextEncoders(dir: string, family: ModelFamily, weights?: (index: number) => WeightSpec): Promise<TextEncoderFiles[]> {
  return Promise.all(
    family.conditioning.encoders.map(async ({ folder, tokenizer }, i) => {
      const sub = path.join(dir, folder);
      if (!(await pathExists(sub))) throw new IndetailError('ERR_INDETAIL_IO', `${dir} has no ${folder}/ folder (${family.name} conditions on ${family.conditioning.description})`);
      await checkFolder(`${folder}/ of the model`, sub);
      const file = await need(path.join(sub, 'config.json'), `${folder}/config.json`);
      return {
        folder,
        config: await readConfigFile(file),
        weights: weights ? weights(i) : await componentWeights(sub, ['model']),
        tokenizerDir: await needFolder(path.join(dir, tokenizer), `${tokenizer}/ folder`),
        source: file,
      };
    }),
  );
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
  const { family, reason } = await folderFamily(dir, index, unet.config);
  return {
    kind: 'diffusers',
    path: dir,
    unet,
    vae: await component('vae', ['diffusion_pytorch_model']),
    textEncoders: await folderTextEncoders(dir, family),
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
  if (info.unet.addedEmbeddingInputs !== undefined) unetConfig.projection_class_embeddings_input_dim = info.unet.addedEmbeddingInputs;
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
  if (!configDir) adoptFileShapes(st, info, unetConfig, vaeConfig);
  const spec = (map: WeightMap): WeightSpec => ({ files: [{ file: st }], map });
  const textEncoders = await Promise.all(
    family.conditioning.encoders.map(async ({ folder, tokenizer }, i): Promise<TextEncoderFiles> => {
      const configFile = await need(path.join(dir, folder, 'config.json'), `${folder}/config.json`);
      const config = await readConfigFile(configFile);
      const source = configDir ? configFile : `the shipped ${family.name} ${folder.replace(/_/g, ' ')} config`;
      const map = fitTextEncoder(file, family, info.textEncoders[i]!, config, source);
      const tokenizerDir = (await pathExists(path.join(dir, tokenizer))) ? path.join(dir, tokenizer) : path.join(family.configDir, tokenizer);
      return { folder, config, weights: spec(map), tokenizerDir, source };
    }),
  );
  // A --config folder's scheduler states the prediction type; the shipped one is only the family's default.
  const scheduler = path.join(dir, 'scheduler', 'scheduler_config.json');
  const statements = [...predictionStatementsOfFile(st), ...(configDir ? await schedulerStatement(scheduler) : [])];
  const prediction = await choosePrediction(family, statements, options.predictionType);
  if (!configDir && typeof unetConfig.sample_size === 'number') unetConfig.sample_size = family.singleFile.sampleSize(prediction.type, unetConfig.sample_size);
  return {
    kind: 'single-file',
    path: file,
    unet: { config: unetConfig, weights: spec(info.unet.map) },
    vae: { config: vaeConfig, weights: spec(info.vae.map) },
    textEncoders,
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
  const indexFile = path.join(configDir, 'model_index.json');
  const index = (await pathExists(indexFile)) ? await readConfigFile(indexFile) : {};
  checkPipelineClass(configDir, index);
  const { family, reason } = await folderFamily(configDir, index, unet);
  return {
    kind: 'diffusers',
    path: `${configDir} (random weights, seed ${seed})`,
    unet: { config: unet, weights: { random: seed } },
    vae: { config: await cfg('vae'), weights: { random: seed + 1 } },
    textEncoders: await folderTextEncoders(configDir, family, (i) => ({ random: seed + 2 + i })),
    family,
    familyReason: reason,
    prediction: await choosePrediction(family, await schedulerStatement(path.join(configDir, 'scheduler', 'scheduler_config.json')), options.predictionType),
  };
}

/**
 * A component given by its own path (option `option`, named `what` in messages): checked to be a
 * string naming an existing folder or file that is no pickle. Its files when it is a diffusers
 * folder (config.json and diffusion_pytorch_model weights); undefined for a single file, which
 * the caller reads.
 */
async function componentFolder(p: string, option: string, what: string): Promise<ComponentFiles | undefined> {
  if (typeof p !== 'string' || p.length === 0) {
    throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `Expected a ${what} folder or .safetensors file for ${option} but received ${JSON.stringify(p)}`);
  }
  if (!(await pathExists(p))) throw new IndetailError('ERR_INDETAIL_IO', `${what} not found: ${p}`);
  refusePickle(p);
  if ((await fileOrFolder(what, p)) !== 'folder') return undefined;
  return {
    config: await readConfigFile(await need(path.join(p, 'config.json'), `${what} config.json`)),
    weights: await componentWeights(p, ['diffusion_pytorch_model']),
  };
}

/**
 * A VAE to use instead of the model's (e.g. SDXL's fp16-fixed VAE): a diffusers AutoencoderKL
 * folder (its own config, force_upcast included), or a .safetensors file in diffusers or LDM
 * naming (optionally under first_stage_model.), read with the model's VAE config `modelVae` and
 * the widths the file has.
 */
export async function locateVae(vaePath: string, modelVae: RawConfig): Promise<ComponentFiles> {
  const folder = await componentFolder(vaePath, 'vae', 'VAE');
  if (folder) return folder;
  const st = await openSafetensors(vaePath);
  const names = st.names();
  const config: RawConfig = { ...modelVae };
  const levels = (config.block_out_channels as number[] | undefined)?.length ?? 4;
  if (names.some((n) => n.startsWith('encoder.down_blocks.'))) {
    const widths = levelWidths(st, (b) => `encoder.down_blocks.${b}.resnets.0.conv2.weight`, levels);
    if (widths) config.block_out_channels = widths;
    return { config, weights: { files: [{ file: st }] } };
  }
  const prefix = names.some((n) => n.startsWith(VAE_PREFIX)) ? VAE_PREFIX : '';
  if (!names.some((n) => n.startsWith(`${prefix}encoder.down.`))) {
    throw new IndetailError('ERR_INDETAIL_UNSUPPORTED', `${vaePath}: not a VAE checkpoint (no encoder.down_blocks.* or ${prefix}encoder.down.* tensors)`);
  }
  const upBlocks = ldmVaeUpBlocks(names.filter((n) => n.startsWith(prefix)).map((n) => n.slice(prefix.length)));
  const widths = levelWidths(st, (b) => `${prefix}encoder.down.${b}.block.0.conv2.weight`, levels);
  if (widths) config.block_out_channels = widths;
  return { config, weights: { files: [{ file: st }], map: buildMap(names, prefix, (k) => vaeNameFromLdm(k, upBlocks)) } };
}

/** A ControlNet: a diffusers ControlNetModel folder or a single .safetensors file. */
export async function locateControlNet(controlPath: string, layersPerBlock: number, configDir?: string): Promise<ComponentFiles> {
  const folder = await componentFolder(controlPath, 'controlnet', 'ControlNet');
  if (folder) return folder;
  const st = await openSafetensors(controlPath);
  const { map } = inspectControlNetFile(st, layersPerBlock);
  const config = await readConfigFile(path.join(configDir ?? shippedControlNetConfigDir, 'config.json'));
  return { config, weights: { files: [{ file: st }], map } };
}
