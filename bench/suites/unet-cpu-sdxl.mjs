// One full-size SDXL base 1.0 UNet forward on the CPU (random weights from configs/sdxl/unet:
// 2.57 B parameters, transformer depth 1/2/10, no attention at the first level, 2048-wide
// cross-attention, text_time added conditions), 128×128 latents (1024×1024 images), batch 1
// in f32 and bf16 (bench/lib/unet-cpu-forward.mjs). Run by name: it takes minutes and ~12 GB of
// memory in f32.
import { unetCpuForward } from '../lib/unet-cpu-forward.mjs';

export const name = 'unet-cpu-sdxl';
export const description = 'full-size SDXL UNet forward on the CPU (random weights), 128x128 latents, batch 1, f32 and bf16';
export const explicitOnly = true;

export function run({ quick = false } = {}) {
  return unetCpuForward({ configName: 'sdxl', size: quick ? 64 : 128, batches: [1], quick });
}
