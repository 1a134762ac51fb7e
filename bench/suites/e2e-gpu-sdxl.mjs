// End-to-end SDXL image variation on the GPU: full-size SDXL base 1.0 (random weights from
// configs/sdxl; the VAE in bf16 by its force_upcast), 1024×1024, 50 inversion + 50 generation
// steps, n = 1 and 4, by phase, first call and cached image prompt, peak device memory and the
// cache entry's size (bench/lib/e2e-gpu-variation.mjs).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { backends } from '../../dist/index.js';
import { e2eGpuVariation } from '../lib/e2e-gpu-variation.mjs';

export const name = 'e2e-gpu-sdxl';
export const description = 'SDXL image variation 1024x1024, 50+50 steps, n=1 and 4, CUDA, phases, cache, peak memory';

const configs = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'configs', 'sdxl');

export function run({ quick = false } = {}) {
  if (!backends().includes('cuda')) return { skipped: 'no CUDA device' };
  return e2eGpuVariation({ model: configs, size: 1024, quick });
}
