// End-to-end image variation on the GPU: full-size SD1.5 (random weights), 512×512, 50 inversion
// + 50 generation steps, n = 1 and 4, by phase, with the image-prompt cache
// (bench/lib/e2e-gpu-variation.mjs).
import { backends } from '../../dist/index.js';
import { e2eGpuVariation } from '../lib/e2e-gpu-variation.mjs';

export const name = 'e2e-gpu';
export const description = 'image variation 512x512, 50+50 steps, n=1 and 4, CUDA, phases, cache, peak memory';

export function run({ quick = false } = {}) {
  if (!backends().includes('cuda')) return { skipped: 'no CUDA device' };
  return e2eGpuVariation({ model: 'sd15', size: 512, quick });
}
