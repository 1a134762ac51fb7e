// indetail: fine details of an image prompt in Stable Diffusion images, training-free
// ("Devil is in the Detail", CVPR 2025), on a native CPU / CUDA engine.
export { Engine, opNames, type BackendName, type EngineOptions, type MemoryStats, type OpTiming, type WeightUse } from './engine.js';
export { IndetailError, isUserError, type ErrorCode } from './errors.js';
export { SafetensorsFile, openSafetensors, openSafetensorsSync, type SafetensorsEntry } from './safetensors.js';
export { backends, buildInfo, devices, setThreads, type BuildInfo, type DeviceInfo } from './system.js';
export { Tensor, type DType } from './tensor.js';
export { version } from './version.js';
export { VAE, defaultVaeTiling, vaeTilePlan, type LatentDistribution, type VaeCallOptions, type VaeLoadOptions, type VaeTilingOptions } from './models/vae.js';
export { parseVaeConfig, type VaeConfig } from './models/vae-config.js';
