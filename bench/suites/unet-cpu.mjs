// One full-size SD1.5 UNet forward on the CPU (random weights from configs/sd15/unet), 64×64
// latents (512×512 images), batch 1 and 3, in f32 and bf16 (bench/lib/unet-cpu-forward.mjs).
import { unetCpuForward } from '../lib/unet-cpu-forward.mjs';

export const name = 'unet-cpu';
export const description = 'full-size SD1.5 UNet forward on the CPU (random weights), 64x64 latents, batch 1 and 3, f32 and bf16';

export function run({ quick = false } = {}) {
  return unetCpuForward({ configName: 'sd15', size: quick ? 32 : 64, batches: quick ? [1] : [1, 3], quick });
}
