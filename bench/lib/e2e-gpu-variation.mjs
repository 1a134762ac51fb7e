// End-to-end image variation on the GPU with random full-size weights (the e2e-gpu suites):
// 50 inversion + 50 generation steps, n = 1 and 4, by phase; the second call with the same image
// prompt hits the image-prompt cache (no encode/inversion, batch 2n, the steps the cache holds).
// Peak device memory per configuration, and the cache entry's size.
import { IndetailPipeline, devices, openSafetensors } from '../../dist/index.js';
import { fixturesRootImage } from './inputs.mjs';

async function promptImage() {
  // Raw RGB from the fixtures (no image decoder needed on the device).
  const f = await openSafetensors(fixturesRootImage('images.safetensors'));
  const t = f.tensor('input_image_u8');
  const [h, w] = t.shape;
  return { data: Uint8Array.from(t.readSync()), width: w, height: h };
}

// Memory in use on the device after the call: the caching allocator keeps its blocks, so this is
// the process's footprint so far (weights, activations, caches, CUDA graph pools, the CUDA context).
function deviceUsedGiB() {
  const d = devices()[0];
  return d ? (d.totalMemory - d.freeMemory) / 2 ** 30 : null;
}

/** `model`: 'sd15' or a folder of diffusers configs (random weights); `size`: the image side. */
export async function e2eGpuVariation({ model, size, quick = false }) {
  const steps = quick ? 10 : 50;
  const image = await promptImage();
  const rows = [];
  for (const samples of [1, 4]) {
    const t0 = performance.now();
    const pipe = await IndetailPipeline.load({ model, randomWeights: 1, backend: 'cuda' });
    const load = (performance.now() - t0) / 1000;
    try {
      for (const call of ['first call', 'cached prompt']) {
        const r = await pipe.variation({ image, prompt: 'a photograph of a cat', steps, samples, seed: 1, size });
        const t = r.timings;
        rows.push({
          samples,
          call,
          'total s': t.total,
          'encode s': t.encode,
          'inversion s': t.inversion,
          'denoise s': t.denoise,
          'decode s': t.decode,
          'ms/denoise step': (1e3 * t.denoise) / steps,
          'peak GiB': pipe.engine.memoryStats().peak / 2 ** 30,
          'weights GiB': pipe.engine.memoryStats().weights / 2 ** 30,
          'device used GiB': deviceUsedGiB(),
          'cache entry GiB': r.kvCache.entryBytes / 2 ** 30,
          'steps reused': r.kvCache.reusedSteps,
          'load s': call === 'first call' ? load : null,
        });
      }
    } finally {
      pipe.dispose();
    }
  }
  return {
    rows,
    notes: [
      `${model} ${size}x${size}, ${steps} inversion + ${steps} generation steps; peak = the UNet engine's allocator high-water mark (weights excluded); ` +
        'device used = total - free device memory after the call (everything this process holds: a VAE engine of its own precision, CUDA graph pools, the image-prompt cache, the context); ' +
        'cache entry = the bytes the image-prompt cache holds for this image prompt (steps recorded while its budget had room)',
    ],
  };
}
