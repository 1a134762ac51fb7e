// The memory of the full SDXL pipeline on the CPU: full-size SDXL base 1.0 with random weights
// (configs/sdxl), image variation at 1024×1024, n = 1, conflict-free guidance (denoising batch 3),
// the image-prompt cache off (its entries are extra, see the README). Steps do not change the peak
// (every step runs the same shapes), so a few are run: peak RSS, the resident weights, the
// engine's activation high-water mark, against the 16 GiB budget. Run by name: it takes minutes
// and ~14 GB of memory in f32.
import { IndetailPipeline } from '../../dist/index.js';
import { fixturesRootImage } from '../lib/inputs.mjs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const name = 'sdxl-memory-cpu';
export const description = 'full-size SDXL pipeline on the CPU (random weights), variation 1024x1024, n=1: peak RSS, weights, activations';
export const explicitOnly = true;

const configs = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'configs', 'sdxl');
const GiB = 2 ** 30;
const rss = () => process.memoryUsage().rss / GiB;
const maxRss = () => (process.resourceUsage().maxRSS * 1024) / GiB;

export async function run({ quick = false } = {}) {
  const steps = Number(process.env.INDETAIL_BENCH_STEPS ?? (quick ? 1 : 2));
  const size = quick ? 512 : 1024;
  const t0 = performance.now();
  const pipe = await IndetailPipeline.load({ model: configs, randomWeights: 1, backend: 'cpu', kvCache: false });
  const loadSeconds = (performance.now() - t0) / 1000;
  const afterLoad = { rss: rss(), maxRss: maxRss(), weights: pipe.engine.memoryStats().weights / GiB };
  const rows = [];
  try {
    const c0 = process.cpuUsage();
    const r = await pipe.variation({ image: fixturesRootImage('input_image.png'), prompt: 'a photograph of a cat', steps, samples: 1, seed: 1, size });
    const cpu = process.cpuUsage(c0);
    const stats = pipe.engine.memoryStats();
    rows.push({
      case: `variation ${size}x${size}, n=1, ${steps}+${steps} steps`,
      'weights GiB': stats.weights / GiB,
      'RSS after load GiB': afterLoad.rss,
      'activations peak GiB': stats.peak / GiB,
      'peak RSS GiB': maxRss(),
      'budget GiB': 16,
      'total s': r.timings.total,
      'CPU s': (cpu.user + cpu.system) / 1e6,
      's/UNet batch 1': r.timings.inversion / steps,
      's/UNet batch 3': r.timings.denoise / steps,
      'decode s': r.timings.decode,
    });
  } finally {
    pipe.dispose();
  }
  return {
    rows,
    notes: [
      `configs/sdxl with random weights (f32 on the CPU: UNet 2.57 B + text encoders 0.82 B + VAE 0.08 B parameters); load ${loadSeconds.toFixed(1)} s`,
      'weights = the engine\'s resident weights; activations peak = its allocator\'s high-water mark over the call; peak RSS = the process\'s maximum resident set (everything)',
    ],
  };
}
