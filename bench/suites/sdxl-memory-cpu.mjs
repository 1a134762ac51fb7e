// The memory of the full SDXL pipeline on the CPU: full-size SDXL base 1.0 with random weights
// (configs/sdxl), image variation at 1024×1024, n = 1, conflict-free guidance (denoising batch 3),
// the image-prompt cache off (its entries are extra, see the README), per precision
// (INDETAIL_BENCH_PRECISION, default f32,bf16; bf16 where the CPU has AVX512-BF16 or AMX), each in
// its own process so that its peak RSS is its own. Steps do not change the peak (every step runs
// the same shapes), so a few are run (INDETAIL_BENCH_STEPS, default 2; --quick: 1 at 512×512):
// peak RSS, the resident weights, the engine's activation high-water mark, against the 16 GiB
// budget. Run by name: it takes minutes and ~18 GB of memory in f32 (~9 GB in bf16).
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PRECISION_NOTE, benchPrecisions, runCaseInChild } from '../lib/precision-runs.mjs';

export const name = 'sdxl-memory-cpu';
export const description = 'full-size SDXL pipeline on the CPU (random weights), variation 1024x1024, n=1, f32 and bf16: peak RSS, weights, activations';
export const explicitOnly = true;

const here = fileURLToPath(import.meta.url);
const root = path.resolve(path.dirname(here), '..', '..');
const configs = path.join(root, 'configs', 'sdxl');
const GiB = 2 ** 30;
const maxRss = () => (process.resourceUsage().maxRSS * 1024) / GiB;

async function runCase(precision, steps, size) {
  const { IndetailPipeline } = await import(pathToFileURL(path.join(root, 'dist', 'index.js')).href);
  const { fixturesRootImage } = await import(pathToFileURL(path.join(root, 'bench', 'lib', 'inputs.mjs')).href);
  const t0 = performance.now();
  const pipe = await IndetailPipeline.load({ model: configs, randomWeights: 1, backend: 'cpu', precision, kvCache: false });
  const loadSeconds = (performance.now() - t0) / 1000;
  const rssAfterLoad = process.memoryUsage().rss / GiB;
  try {
    const c0 = process.cpuUsage();
    const r = await pipe.variation({ image: fixturesRootImage('input_image.png'), prompt: 'a photograph of a cat', steps, samples: 1, seed: 1, size });
    const cpu = process.cpuUsage(c0);
    const stats = pipe.engine.memoryStats();
    const vaeStats = pipe.parts.vae.engine === pipe.engine ? { weights: 0, peak: 0 } : pipe.parts.vae.engine.memoryStats();
    return {
      row: {
        case: `variation ${size}x${size}, n=1, ${steps}+${steps} steps`,
        precision: `${pipe.precision} (VAE ${pipe.vaePrecision})`,
        'weights GiB': (stats.weights + vaeStats.weights) / GiB,
        'RSS after load GiB': rssAfterLoad,
        'activations peak GiB': Math.max(stats.peak, vaeStats.peak) / GiB,
        'peak RSS GiB': maxRss(),
        'budget GiB': 16,
        'total s': r.timings.total,
        'CPU s': (cpu.user + cpu.system) / 1e6,
        's/UNet batch 1': r.timings.inversion / steps,
        's/UNet batch 3': r.timings.denoise / steps,
        'decode s': r.timings.decode,
      },
      loadSeconds,
    };
  } finally {
    pipe.dispose();
  }
}

// Child process entry: node sdxl-memory-cpu.mjs --case <precision> <steps> <size>
if (process.argv[1] === here && process.argv[2] === '--case') {
  const [precision, steps, size] = process.argv.slice(3);
  process.stdout.write(`${JSON.stringify(await runCase(precision, Number(steps), Number(size)))}\n`);
}

export async function run({ quick = false } = {}) {
  const steps = Number(process.env.INDETAIL_BENCH_STEPS ?? (quick ? 1 : 2));
  const size = quick ? 512 : 1024;
  const rows = [];
  const loads = [];
  for (const precision of benchPrecisions()) {
    const r = runCaseInChild(here, [precision, steps, size], `sdxl-memory-cpu ${precision}`);
    rows.push(r.row);
    loads.push(`${precision} ${r.loadSeconds.toFixed(1)} s`);
  }
  return {
    rows,
    notes: [
      `configs/sdxl with random weights (UNet 2.57 B + text encoders 0.82 B + VAE 0.08 B parameters); load ${loads.join(', ')}`,
      PRECISION_NOTE,
      'weights = the engines\' resident weights; activations peak = their allocators\' high-water mark over the call; peak RSS = the process\'s maximum resident set (everything)',
    ],
  };
}
