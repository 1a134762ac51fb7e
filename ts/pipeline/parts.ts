// The loaded models a pipeline runs on, all on one engine.
import type { Engine } from '../engine.js';
import type { ControlNet } from '../models/controlnet.js';
import type { CLIPTextEncoder } from '../models/clip-text.js';
import type { ModelFamily } from '../models/family/index.js';
import type { UNet } from '../models/unet.js';
import type { VAE } from '../models/vae.js';
import type { DDIMScheduler } from '../scheduler/index.js';
import type { CLIPTokenizer } from '../text/tokenizer.js';

export interface PipelineParts {
  engine: Engine;
  family: ModelFamily;
  tokenizer: CLIPTokenizer;
  textEncoder: CLIPTextEncoder;
  unet: UNet;
  vae: VAE;
  scheduler: DDIMScheduler;
  controlnet?: ControlNet;
}
