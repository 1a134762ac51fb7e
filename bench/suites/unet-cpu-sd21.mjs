// One full-size SD 2.1 (768-v) UNet forward on the CPU (random weights from configs/sd21/unet:
// 64-wide heads, linear projections, 1024-wide cross-attention), 96×96 latents (768×768
// images), batch 1, in f32 and bf16 (bench/lib/unet-cpu-forward.mjs). Run by name: it takes
// minutes.
import { unetCpuForward } from '../lib/unet-cpu-forward.mjs';

export const name = 'unet-cpu-sd21';
export const description = 'full-size SD2.1 768-v UNet forward on the CPU (random weights), 96x96 latents, batch 1, f32 and bf16';
export const explicitOnly = true;

export function run({ quick = false } = {}) {
  return unetCpuForward({ configName: 'sd21', size: quick ? 48 : 96, batches: [1], quick });
}
