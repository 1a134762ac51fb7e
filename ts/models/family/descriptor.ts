// A model family (DESIGN.md §7): everything that differs between Stable Diffusion generations
// lives in one descriptor per family, and the pipelines stay family-agnostic. Adding a family is
// a new descriptor (plus its fixtures), registered in family/index.ts.
import type { SafetensorsFile } from '../../safetensors.js';
import type { PredictionType } from '../../scheduler/config.js';
import type { RawConfig } from '../config-check.js';
import type { WeightMap } from '../weights.js';

export type FamilyId = 'sd1' | 'sd2';

/**
 * How prompts become the UNet's conditioning. 'last-hidden-state': one text encoder's last
 * hidden state (SD 1.x; SD 2.x too, whose diffusers config drops the last OpenCLIP layer so that
 * it is the penultimate layer after the final layer norm).
 */
export type Conditioning = 'last-hidden-state';

/** The text encoder of a single-file checkpoint, as found in the file. */
export interface SingleFileTextEncoder {
  /** diffusers name -> file key (or a view of one), for every layer the file holds. */
  map: WeightMap;
  hiddenSize: number;
  /** Transformer layers in the file. */
  layers: number;
  /** The projection after the final layer norm (CLIPTextModelWithProjection), if the file has one. */
  projection?: WeightMap[string];
}

/** The configs of a diffusers folder that tell the families apart. */
export interface FolderConfigs {
  /** model_index.json (empty for a folder of component configs only, e.g. random-weight models). */
  index: RawConfig;
  unet: RawConfig;
  textEncoder: RawConfig;
}

export interface ModelFamily {
  id: FamilyId;
  /** For messages and `indetail info`: "Stable Diffusion 1.x". */
  name: string;
  /** Shipped diffusers configs and tokenizer (package `configs/`), used for its single files. */
  configDir: string;
  /** Shipped ControlNetModel config, used for its single-file ControlNets. */
  controlnetConfigDir: string;
  conditioning: Conditioning;
  /** model_index.json `_class_name`s of its diffusers folders. */
  pipelineClasses: readonly string[];
  /** Why a diffusers folder is this family, or undefined when it is not. */
  detectFolder(configs: FolderConfigs): string | undefined;
  singleFile: {
    /** Key prefix of its text encoder in an LDM single-file checkpoint (what identifies the family). */
    textEncoderPrefix: string;
    /** Maps the file's text encoder onto diffusers names; throws naming the file when it cannot. */
    inspectTextEncoder(file: SafetensorsFile): SingleFileTextEncoder;
    /**
     * The file holds one more text-encoder layer than the config uses, and that is how the family
     * is meant to run (SD 2.x: the conditioning is the penultimate OpenCLIP layer, so diffusers'
     * config has 23 of the checkpoint's 24 layers; the last layer and the projection are unused).
     */
    dropsLastTextLayer: boolean;
    /** Attention heads per level for the UNet widths of the file (single files do not record them). */
    unetHeads(widths: number[]): number[] | undefined;
    /** Default latent size (× 8 = default image size) for its single files, by prediction type. */
    sampleSize(prediction: PredictionType, shipped: number): number;
  };
  /** Why the family defaults to its prediction type when neither the model nor the caller says. */
  predictionRule: string;
}
