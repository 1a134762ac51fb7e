// indetail: fine details of an image prompt in Stable Diffusion images, training-free
// ("Devil is in the Detail", CVPR 2025), on a native CPU / CUDA engine.
export { Engine, opNames, type BackendName, type EngineOptions, type MemoryStats, type OpTiming, type WeightUse } from './engine.js';
export { IndetailError, isUserError, type ErrorCode } from './errors.js';
export { SafetensorsFile, openSafetensors, openSafetensorsSync, type SafetensorsEntry } from './safetensors.js';
export { backends, buildInfo, devices, setThreads, type BuildInfo, type DeviceInfo } from './system.js';
export { Tensor, type DType } from './tensor.js';
export { version } from './version.js';
export { UNet, type AttentionMode, type AttentionPolicy, type ModelSource, type UNetControl, type UNetForwardArgs } from './models/unet.js';
export { normalizeUNetConfig, type UNetConfig, type UNetEncoderConfig } from './models/unet-config.js';
export { ControlNet, type ControlNetForwardArgs, type ControlNetResiduals } from './models/controlnet.js';
export { normalizeControlNetConfig, type ControlNetConfig } from './models/controlnet-config.js';
