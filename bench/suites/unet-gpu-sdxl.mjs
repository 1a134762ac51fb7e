// UNet step on the GPU: full-size SDXL base 1.0 (random weights, added conditions), 128×128
// latents (1024×1024 images), batch 1, 3 and 9 (3 and 9: the conflict-free batches of 1 and 4
// samples), CUDA graphs off and on (bench/lib/unet-gpu-steps.mjs). diffusers' own SDXL UNet on
// the same card: bench/gpu-ref/sdxl_unet_reference.py (bench/device-check.sh runs both).
import { backends } from '../../dist/index.js';
import { unetGpuSteps } from '../lib/unet-gpu-steps.mjs';

export const name = 'unet-gpu-sdxl';
export const description = 'full-size SDXL UNet step on CUDA at 128x128, batch 1/3/9, CUDA graphs off/on, TFLOP/s, peak memory';

export function run({ quick = false } = {}) {
  if (!backends().includes('cuda')) return { skipped: 'no CUDA device' };
  return unetGpuSteps({ configName: 'sdxl', size: 128, batches: quick ? [1] : [1, 3, 9], quick });
}
