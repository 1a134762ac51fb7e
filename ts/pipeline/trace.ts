// Intermediate results of a generation, read back to the host when the caller asks for them
// (golden tests, debugging). All latents are NHWC.
import type { KVCacheUse } from './kv-cache.js';

export interface GenerationTrace {
  /** The prompts as encoded (quality suffix applied): the inversion's, and every frame's in each half (frame 0 = the image prompt). */
  prompts?: { inversion: string; uncond: string[]; cond: string[] };
  /** Text embeddings of the inversion prompt [1, 77, C]. */
  inversionContext?: Float32Array;
  /** Every distinct prompt of the call (its row order) with its context [P, 77, C] and, for SDXL, its pooled embedding [P, D]. */
  promptTable?: { prompts: string[]; context: Float32Array; pooled?: Float32Array };
  /** The time ids of every UNet call (SDXL), e.g. (H, W, 0, 0, H, W). */
  timeIds?: number[];
  /** z0 = VAE mean × scaling factor [1, h, w, c]. */
  z0?: Float32Array;
  /** The inversion chain, most noisy first (the reference's zts): steps + 1 latents. */
  inversionLatents?: Float32Array[];
  /** [frames, h, w, c]: z_T of the image prompt, then the AdaIN-ed noise of each sample. */
  initialLatents?: Float32Array;
  /** Latents of every frame after each step (frame 0 reset from the chain). */
  stepLatents?: Float32Array[];
  /** Decoded frames [frames or samples, H, W, 3] in [-1, 1], before quantisation. */
  decoded?: Float32Array;
  /** What the call did with the image-prompt cache. */
  kvCache?: KVCacheUse;
}
