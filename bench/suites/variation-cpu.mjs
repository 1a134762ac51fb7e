// The CPU targets of an image variation: one full-size SD1.5 variation at 512×512 (50 inversion +
// 50 denoising steps, one sample), per precision, each in its own process so that its peak RSS is
// its own: wall and CPU seconds by phase, peak RSS, resident weights, the image-prompt cache.
//
// Model (INDETAIL_BENCH_MODEL): 'f16-file' (default) = a full-size single-file SD1.5 checkpoint
// of seeded random F16 weights (bench/lib/sd15-single-file.mjs, written to bench/out once), the
// kind of file users download; 'random' = the engine's seeded random fp32 weights; or a path.
// INDETAIL_BENCH_PRECISION: comma list (default 'f32,bf16'; bf16 only where the CPU has
// AVX512-BF16 or AMX). INDETAIL_BENCH_STEPS (default 50; --quick: 2). INDETAIL_BENCH_KVCACHE=0
// turns the image-prompt cache off (it records the image prompt's K/V of every step: 2.75 GB in
// fp32 at 50 steps). Takes minutes per precision: run it by name, node bench/run.mjs variation-cpu.
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';
import { PRECISION_NOTE, benchPrecisions, runCaseInChild } from '../lib/precision-runs.mjs';

export const name = 'variation-cpu';
export const description = 'full-size SD1.5 image variation 512x512 on the CPU per precision: time by phase, peak RSS';
export const explicitOnly = true;

const here = fileURLToPath(import.meta.url);
const root = path.resolve(path.dirname(here), '..', '..');
const GiB = 2 ** 30;

async function runCase(model, precision, steps, kvCache) {
  const dist = (f) => import(pathToFileURL(path.join(root, 'dist', f)).href);
  const { IndetailPipeline, buildInfo } = await dist('index.js');
  const { fixturesRootImage } = await import(pathToFileURL(path.join(root, 'bench', 'lib', 'inputs.mjs')).href);
  let source = { model };
  if (model === 'random') source = { model: 'sd15', randomWeights: 1 };
  if (model === 'f16-file') {
    const { sd15SingleFileF16 } = await import(pathToFileURL(path.join(root, 'bench', 'lib', 'sd15-single-file.mjs')).href);
    source = { model: await sd15SingleFileF16() };
  }
  const c0 = process.cpuUsage();
  let t0 = performance.now();
  const pipe = await IndetailPipeline.load({ ...source, backend: 'cpu', precision, ...(kvCache ? {} : { kvCache: false }) });
  const loadSeconds = (performance.now() - t0) / 1000;
  const loadRss = process.resourceUsage().maxRSS * 1024;
  t0 = performance.now();
  const c1 = process.cpuUsage();
  const r = await pipe.variation({ image: fixturesRootImage('input_image.png'), prompt: 'a photograph of a cat', steps, samples: 1, seed: 1, size: 512 });
  const cpu = process.cpuUsage(c1);
  const stats = pipe.engine.memoryStats();
  const out = {
    seconds: (performance.now() - t0) / 1000,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    loadSeconds,
    loadCpuSeconds: (c1.user + c1.system - c0.user - c0.system) / 1e6,
    timings: r.timings,
    kvCache: r.kvCache,
    precision: pipe.engine.precision,
    kernels: buildInfo().cpuFeatures,
    threads: buildInfo().threads,
    maxRss: process.resourceUsage().maxRSS * 1024,
    loadRss,
    weights: stats.weights,
    enginePeak: stats.peak,
  };
  pipe.dispose();
  return out;
}

// Child process entry: node variation-cpu.mjs --case <model> <precision> <steps> <kvCache 0|1>
if (process.argv[1] === here && process.argv[2] === '--case') {
  const [model, precision, steps, kv] = process.argv.slice(3);
  const r = await runCase(model, precision, Number(steps), kv === '1');
  process.stdout.write(`${JSON.stringify(r)}\n`);
}

export async function run({ quick = false } = {}) {
  const model = process.env.INDETAIL_BENCH_MODEL ?? 'f16-file';
  const steps = Number(process.env.INDETAIL_BENCH_STEPS ?? (quick ? 2 : 50));
  const kvCache = process.env.INDETAIL_BENCH_KVCACHE !== '0';
  const rows = [];
  let kernels = '';
  for (const precision of benchPrecisions()) {
    const r = runCaseInChild(here, [model, precision, steps, kvCache ? '1' : '0'], `variation-cpu ${precision}`);
    const t = r.timings;
    kernels = `${r.kernels}, ${r.threads} threads`;
    rows.push({
      precision: r.precision,
      steps: `${steps}+${steps}`,
      'total s': t.total,
      'min': t.total / 60,
      'CPU s': r.cpuSeconds,
      'encode s': t.encode,
      'inversion s': t.inversion,
      'denoise s': t.denoise,
      'decode s': t.decode,
      'peak RSS GiB': r.maxRss / GiB,
      'weights GiB': r.weights / GiB,
      'activations peak GiB': r.enginePeak / GiB,
      'kv cache GiB': r.kvCache.entryBytes / GiB,
      'load s': r.loadSeconds,
      'load RSS GiB': r.loadRss / GiB,
    });
  }
  return {
    rows,
    notes: [
      `model: ${model}; one sample, 512x512, seed 1; image-prompt cache ${kvCache ? 'on (the default: the first call records the image prompt\'s K/V of every step)' : 'off'}; CPU kernels ${kernels}`,
      PRECISION_NOTE,
      'peak RSS = the process\'s maxRSS (load included); CPU s = user + system time of the variation call (all threads): on a busy machine CPU s / threads approximates the wall time of an idle one',
    ],
  };
}
