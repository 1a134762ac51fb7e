// indetail: fine details of an image prompt in Stable Diffusion images, training-free
// ("Devil is in the Detail", CVPR 2025), on a native CPU / CUDA engine.
export { cpuHasBf16, isFullSizeModel, pipelinePrecisions, resolvePrecision, type PipelinePrecisions, type Precision, type PrecisionOption } from './precision.js';
export { Engine, opNames, type BackendName, type EngineOptions, type MemoryStats, type OpActivation, type OpArguments, type OpAttentionMode, type OpName, type OpTiming, type WeightUse } from './engine.js';
export { IndetailError, isUserError, type ErrorCode } from './errors.js';
export { SafetensorsFile, openSafetensors, openSafetensorsSync, type SafetensorsEntry } from './safetensors.js';
export { backends, buildInfo, devices, setThreads, type BuildInfo, type DeviceInfo } from './system.js';
export { probeCuda, type BackendChoiceOptions } from './backend-select.js';
export { Tensor, type DType } from './tensor.js';
export { CLIPTokenizer, MAX_COUNTED_TOKENS, type BatchEncoding, type CLIPTokenizerOptions, type EncodeOptions, type Encoding, type TokenizerCacheStats, type TokenizerWarning, type WarningHandler } from './text/tokenizer.js';
export { version } from './version.js';
export { DDIMScheduler, REFERENCE_DDIM_CONFIG, ddimMove, loadSchedulerConfig, parseSchedulerConfig, referenceDdimConfig, type DenoisingStep, type InversionStep, type PredictionType, type SchedulerConfig, type StepResult } from './scheduler/index.js';
export { philox4x32, randn, type RandnOptions, type Seed } from './random/index.js';
export { DEFAULT_MAX_PIXELS, DEFAULT_MAX_SIDE, floatToU8, loadImage, readImage, readPngText, resizeBicubicPillow, u8ToFloatSigned, u8ToFloatUnit, writePng, type ReadImageOptions, type RgbImage, type TargetSize, type WritePngOptions } from './image/index.js';
export { CLIPTextEncoder, type TextEncodeOptions, type TextEncoderOutput, type TextEncoderSource } from './models/clip-text.js';
export { parseClipTextConfig, type ClipTextActivation, type ClipTextConfig } from './models/clip-text-config.js';
export { UNet, ImagePromptKVCache, decoderKVBytesPerStep, decoderKVLayers, type AttentionMode, type AttentionPolicy, type DecoderKVLayer, type ModelSource, type RecordKV, type RefKV, type UNetAddedConditions, type UNetControl, type UNetForwardArgs, type UNetGraphStats, type UNetLoadOptions, type UNetTextInputs } from './models/unet.js';
export { locateModel, locateVae, randomModel, type ModelFiles } from './models/model-files.js';
export { PromptTable, sdxlTimeIds, type Conditioner, type Conditioning, type ImageSize, type TextEncoderFiles } from './models/conditioning/index.js';
export { FAMILIES, type FamilyId, type ModelFamily } from './models/family/index.js';
export { normalizeUNetConfig, type UNetConfig, type UNetEncoderConfig } from './models/unet-config.js';
export { unetFlops, type UNetFlopsShape } from './models/unet-flops.js';
export { ControlNet, type ControlNetForwardArgs, type ControlNetResiduals } from './models/controlnet.js';
export { normalizeControlNetConfig, type ControlNetConfig } from './models/controlnet-config.js';
export { VAE, defaultVaeTiling, vaeTilePlan, type LatentDistribution, type VaeCallOptions, type VaeLoadOptions, type VaeTilingOptions } from './models/vae.js';
export { parseVaeConfig, type VaeConfig } from './models/vae-config.js';
export { CLIPVisionEncoder } from './models/clip-vision.js';
export { CLIPModel } from './models/clip-model.js';
export { ViTModel } from './models/vit.js';
export { parseClipVisionConfig, parseVitConfig, type ClipVisionConfig, type VitConfig, type VitModelConfig } from './models/vit-config.js';
export { QualityMetrics, type MetricImage, type QualityMetricsOptions, type QualityScores, type ScoreInputs } from './metrics/quality.js';
export { clipPreprocess, clipResizeShape, centerCropFloor, parseClipProcessorConfig, type ClipPreprocessed, type ClipProcessorConfig } from './metrics/clip-preprocess.js';
export { dinoPreprocess, dinoResizeShape, resizeBilinearTorch, type DinoInput, type DinoPreprocessOptions } from './metrics/dino-preprocess.js';
export {
  clipScoresFromEmbeddings,
  cosineSimilarity,
  dinoConditionAlignment,
  dinoDiversity,
  dinoSelfSimilarityDistance,
  type ClipScores,
  type DinoConditionAlignment,
  type DinoDiversity,
  type SelfSimilarityMap,
} from './metrics/scores.js';
export { IndetailPipeline, type GeneratedImage, type GenerationResult, type PipelineCallOptions, type PipelineLoadOptions } from './pipeline/pipeline.js';
export { CALL_OPTION_KEYS, validateCallOptions } from './pipeline/options.js';
export { LOAD_OPTION_KEYS, validateLoadOptions } from './pipeline/load-options.js';
export { UNET_PASS_FLOP_LIMIT } from './pipeline/cost.js';
export { DEFAULT_NEGATIVE_PROMPT, PROMPT_SUFFIX, TASK_DEFAULTS, type Task } from './pipeline/defaults.js';
export type { GenerateOptions, ImageInput, ProgressEvent } from './pipeline/options.js';
export type { GenerationTrace } from './pipeline/trace.js';
export type { KVCacheStats, KVCacheUse } from './pipeline/kv-cache.js';
export type { AttentionVariant, GuidanceMode } from './pipeline/layout.js';
