// VAE encode / decode on the CPU with the full-size SD1.5 AutoencoderKL (configs/sd15/vae,
// seeded random weights), in f32 and bf16 (INDETAIL_BENCH_PRECISION; bf16 where the CPU has
// AVX512-BF16 or AMX): 512×512 encode and decode, and a tiled 1024×1024 decode (default
// tiling: 512 px tiles, 128 px overlap, mid block on the whole latent). Each case runs in its own
// process so its peak RSS (process.resourceUsage().maxRSS) is its own; one timed run per case
// after loading (these take minutes on a small machine). --quick: 256×256 and a tiled 512×512.
// Run it by name: node bench/run.mjs vae-cpu
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { benchPrecisions, runCaseInChild } from '../lib/precision-runs.mjs';

export const name = 'vae-cpu';
export const description = 'full-size SD1.5 VAE (random weights) encode/decode on the CPU, f32 and bf16: seconds and peak RSS';
export const explicitOnly = true;

const here = fileURLToPath(import.meta.url);
const root = path.resolve(path.dirname(here), '..', '..');
const MiB = 2 ** 20;

async function runCase(kind, size, tileSize, precision) {
  const { Engine, VAE, buildInfo } = await import(pathToFileURL(path.join(root, 'dist', 'index.js')).href);
  const config = JSON.parse(readFileSync(path.join(root, 'configs', 'sd15', 'vae', 'config.json'), 'utf8'));
  const engine = new Engine({ backend: 'cpu', precision });
  let t0 = performance.now();
  const tiling = tileSize ? { mode: 'always', tileSize, overlap: tileSize / 4 } : { mode: 'never' };
  const vae = await VAE.load(engine, { config, weights: { random: 1 }, tiling });
  const loadSeconds = (performance.now() - t0) / 1000;
  const f = vae.factor;
  const shape = kind === 'encode' ? [1, size, size, 3] : [1, size / f, size / f, 4];
  const n = shape.reduce((a, b) => a * b, 1);
  const data = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) * (kind === 'encode' ? 0.8 : 3));
  const input = engine.tensor(data, shape);
  t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const out = kind === 'encode' ? (await vae.encode(input)).mean : await vae.decode(input);
  const values = await out.readFloat32();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const stats = engine.memoryStats();
  return {
    seconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    loadSeconds,
    finite: values.every(Number.isFinite),
    outShape: out.shape,
    threads: buildInfo().threads,
    maxRssMiB: (process.resourceUsage().maxRSS * 1024) / MiB,
    enginePeakMiB: stats.peak / MiB,
    weightsMiB: stats.weights / MiB,
  };
}

// Child process entry: node vae-cpu.mjs --case <encode|decode> <size> <tile size, 0 = untiled> <precision>
if (process.argv[1] === here && process.argv[2] === '--case') {
  const r = await runCase(process.argv[3], Number(process.argv[4]), Number(process.argv[5]), process.argv[6]);
  process.stdout.write(`${JSON.stringify(r)}\n`);
}

export async function run({ quick = false } = {}) {
  const cases = quick
    ? [['encode', 256, 0], ['decode', 256, 0], ['decode', 512, 256]]
    : [['encode', 512, 0], ['decode', 512, 0], ['decode', 1024, 512]];
  const rows = [];
  for (const precision of benchPrecisions()) for (const [kind, size, tile] of cases) {
    const r = runCaseInChild(here, [kind, size, tile, precision], `vae-cpu ${kind} ${size} ${precision}`);
    rows.push({
      case: `${kind} ${size}x${size}${tile ? ` tiled (${tile} px tiles)` : ''}`,
      precision,
      seconds: r.seconds,
      'CPU s': r.cpuSeconds,
      'peak RSS MiB': r.maxRssMiB,
      'engine peak MiB': r.enginePeakMiB,
      'weights MiB': r.weightsMiB,
      'load s': r.loadSeconds,
      threads: r.threads,
      finite: r.finite,
    });
  }
  return {
    rows,
    notes: [
      'one timed run per case after loading; CPU s = user + system time of the call (all threads): on a shared, busy machine CPU s / threads approximates the wall time of an idle one',
      'engine peak = high-water mark of the backend allocator (activations)',
      'tiled: overlap = tile / 4 (engine/models/vae_tiling.h), mid block on the whole latent',
    ],
  };
}
