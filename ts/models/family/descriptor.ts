// A model family (DESIGN.md §7): everything that differs between Stable Diffusion generations
// lives in one descriptor per family, and the pipelines stay family-agnostic. Adding a family is
// a new descriptor (plus its fixtures), registered in family/index.ts.
import type { Task } from '../../pipeline/defaults.js';
import type { SafetensorsFile } from '../../safetensors.js';
import type { PredictionType } from '../../scheduler/config.js';
import type { RawConfig } from '../config-check.js';
import type { Conditioning } from '../conditioning/index.js';
import type { WeightMap } from '../weights.js';

export type FamilyId = 'sd1' | 'sd2' | 'sdxl';

/** A text encoder of a single-file checkpoint, as found in the file. */
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
  /** text_encoder_2/config.json, when the folder has one. */
  textEncoder2?: RawConfig;
}

/** The defaults of the generation calls that a family changes (the rest are the method's, pipeline/defaults.ts). */
export interface FamilyCallDefaults {
  /** Classifier-free guidance scale of every task but structure (SDXL: 5.0, as the paper runs it). */
  guidanceScale?: number;
}

export interface ModelFamily {
  id: FamilyId;
  /** For messages and `indetail info`: "Stable Diffusion 1.x". */
  name: string;
  /** Shipped diffusers configs and tokenizers (package `configs/`), used for its single files. */
  configDir: string;
  /** Shipped ControlNetModel config, used for its single-file ControlNets (none: no ControlNet support). */
  controlnetConfigDir?: string;
  /** How prompts become the UNet's text inputs; names the text encoders it reads. */
  conditioning: Conditioning;
  defaults: FamilyCallDefaults;
  /** Tasks the family cannot run yet, with the reason a refusal gives. */
  unsupportedTasks: Partial<Record<Task, string>>;
  /**
   * Whether its VAE needs more range than fp16 (SDXL's overflows: diffusers' force_upcast, true
   * by default in its config); the VAE then never runs in f16 but in bf16 (pipelinePrecisions,
   * precision.ts).
   */
  vaeNeedsUpcast(vaeConfig: RawConfig): boolean;
  /** model_index.json `_class_name`s of its diffusers folders. */
  pipelineClasses: readonly string[];
  /** Why a diffusers folder is this family, or undefined when it is not. */
  detectFolder(configs: FolderConfigs): string | undefined;
  singleFile: {
    /** Key prefix of its text encoder(s) in an LDM single-file checkpoint (what identifies the family). */
    textEncoderPrefix: string;
    /** Maps the file's text encoders (in the conditioning's order) onto diffusers names; throws naming the file when it cannot. */
    inspectTextEncoders(file: SafetensorsFile): SingleFileTextEncoder[];
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
