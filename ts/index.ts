// indetail: fine details of an image prompt in Stable Diffusion images, training-free
// ("Devil is in the Detail", CVPR 2025), on a native CPU / CUDA engine.
export { Engine, opNames, type BackendName, type EngineOptions, type MemoryStats, type OpTiming, type WeightUse } from './engine.js';
export { IndetailError, isUserError, type ErrorCode } from './errors.js';
export { SafetensorsFile, openSafetensors, openSafetensorsSync, type SafetensorsEntry } from './safetensors.js';
export { backends, buildInfo, devices, setThreads, type BuildInfo, type DeviceInfo } from './system.js';
export { Tensor, type DType } from './tensor.js';
export { version } from './version.js';
export { TextEncoder, type EncodeOptions, type TextEncoderOutput, type TextEncoderSource } from './models/clip-text.js';
export { parseClipTextConfig, type ClipTextActivation, type ClipTextConfig } from './models/clip-text-config.js';
