// The loaded models a pipeline runs on. The UNet, the conditioning and a ControlNet share one
// engine; the VAE may have its own on the same device (a per-model precision: SDXL's VAE in bf16
// next to an f16 UNet on CUDA), `vae.engine`.
import type { Engine } from '../engine.js';
import type { Conditioner } from '../models/conditioning/index.js';
import type { ControlNet } from '../models/controlnet.js';
import type { ModelFamily } from '../models/family/index.js';
import type { UNet } from '../models/unet.js';
import type { VAE } from '../models/vae.js';
import type { DDIMScheduler } from '../scheduler/index.js';

export interface PipelineParts {
  engine: Engine;
  family: ModelFamily;
  /** The family's conditioning: tokenizers and text encoders. */
  conditioner: Conditioner;
  unet: UNet;
  vae: VAE;
  scheduler: DDIMScheduler;
  controlnet?: ControlNet;
}
