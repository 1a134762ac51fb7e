// UNet step on the GPU: full-size SD1.5 (random weights), 64×64 latents, batch 1, 2, 3 and 9
// (9 = the conflict-free batch of 4 samples: P⁺ + 4 negative + 4 positive rows), CUDA graphs
// off and on (bench/lib/unet-gpu-steps.mjs).
import { backends } from '../../dist/index.js';
import { unetGpuSteps } from '../lib/unet-gpu-steps.mjs';

export const name = 'unet-gpu';
export const description = 'full-size SD1.5 UNet step on CUDA at 64x64, batch 1/2/3/9, CUDA graphs off/on, TFLOP/s, peak memory';

export function run({ quick = false } = {}) {
  if (!backends().includes('cuda')) return { skipped: 'no CUDA device' };
  return unetGpuSteps({ configName: 'sd15', size: 64, batches: quick ? [2] : [1, 2, 3, 9], quick });
}
