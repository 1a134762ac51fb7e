// End-to-end time of each task on the full-size SD1.5 model with random weights at 64×64
// latents (512×512 images), few steps: seconds per phase, share of the total, seconds per UNet
// call. Slow on a CPU (minutes): run explicitly with `node bench/run.mjs e2e-cpu`.
import { IndetailPipeline } from '../../dist/index.js';
import { fixturesRootImage } from '../lib/inputs.mjs';

export const name = 'e2e-cpu';
export const description = 'full-size SD1.5 (random weights), 512×512, each task, phases and seconds per UNet call';
export const explicitOnly = true;

export async function run({ quick = false } = {}) {
  const steps = quick ? 1 : 2;
  const backend = process.env.INDETAIL_BENCH_BACKEND ?? 'cpu';
  const t0 = performance.now();
  const precision = process.env.INDETAIL_BENCH_PRECISION ?? 'auto';
  const pipe = await IndetailPipeline.load({ model: 'sd15', controlnet: 'sd15', randomWeights: 1, backend, precision });
  const loadSeconds = (performance.now() - t0) / 1000;
  const rows = [];
  try {
    const image = fixturesRootImage('input_image.png');
    const control = fixturesRootImage('control_image.png');
    for (const task of ['variation', 'cross', 'structure']) {
      const r = await pipe[task]({ image, prompt: 'a photograph of a cat', steps, samples: 1, seed: 1, size: 512, ...(task === 'structure' ? { control } : {}) });
      const t = r.timings;
      const unetCalls = 2 * steps;
      rows.push({
        task,
        steps,
        'total s': t.total,
        'encode s': t.encode,
        'inversion s': t.inversion,
        'denoise s': t.denoise,
        'decode s': t.decode,
        'inversion %': (100 * t.inversion) / t.total,
        'denoise %': (100 * t.denoise) / t.total,
        's/UNet call (batch 1)': t.inversion / steps,
        's/UNet call (batch 3)': t.denoise / steps,
        unetCalls,
      });
    }
  } finally {
    pipe.dispose();
  }
  return { rows, notes: [`backend ${backend}, precision ${pipe.engine.precision} (INDETAIL_BENCH_PRECISION, default auto); model load (random weights) ${loadSeconds.toFixed(1)} s; denoising batch = 2·samples + 1 (conflict-free guidance drops the negative image-prompt frame)`] };
}
