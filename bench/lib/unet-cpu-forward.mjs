// One full-size UNet forward on the CPU with random weights from a shipped config, shared by the
// unet-cpu suites, in f32 and bf16 (each precision in its own process): seconds per forward,
// GFLOP/s over the FLOPs of the graph counted from the config (convolutions, linears, attention
// matmuls; norms and element-wise ops are not counted), CPU time, peak RSS and the resident
// weights.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine, UNet, buildInfo, unetFlops } from '../../dist/index.js';
import { PRECISION_NOTE, benchPrecisions, runCaseInChild } from './precision-runs.mjs';
import { lcgNoise } from './random.mjs';

const here = fileURLToPath(import.meta.url);
const root = path.resolve(path.dirname(here), '..', '..');

/**
 * SDXL's added conditions for `frames` rows of size × size latents (a pooled text embedding and
 * the time ids of a size·8 image), on `engine`; undefined for a UNet without them.
 */
export function addedConditions(engine, cfg, frames, size) {
  if (cfg.addition_embed_type !== 'text_time') return undefined;
  const timeIds = [8 * size, 8 * size, 0, 0, 8 * size, 8 * size];
  const pooled = cfg.projection_class_embeddings_input_dim - timeIds.length * cfg.addition_time_embed_dim;
  return { textEmbeds: engine.tensor(lcgNoise(frames * pooled, 3), [frames, pooled]), timeIds };
}

/** Times one forward per batch size at size × size latents in `precision`, in this process. */
async function forwardRows(precision, { configName, size, batches, quick }) {
  const engine = new Engine({ backend: 'cpu', precision });
  const config = JSON.parse(readFileSync(path.join(root, 'configs', configName, 'unet', 'config.json'), 'utf8'));
  let t0 = performance.now();
  const unet = await UNet.load(engine, { config, weights: { random: 1 } });
  const loadSeconds = (performance.now() - t0) / 1000;
  const weightsGiB = engine.memoryStats().weights / 2 ** 30;
  const contextLength = 77;
  const ctxDim = unet.config.cross_attention_dim[0];
  const rows = [];
  for (const frames of batches) {
    const sample = engine.tensor(lcgNoise(frames * size * size * 4, 1), [frames, size, size, 4]);
    const context = engine.tensor(lcgNoise(frames * contextLength * ctxDim, 2), [frames, contextLength, ctxDim]);
    const timesteps = Array.from({ length: frames }, (_, i) => 901 - 100 * i);
    const added = addedConditions(engine, unet.config, frames, size);
    const iterations = quick || frames > 1 ? 1 : 2;
    const times = [];
    const cpuTimes = [];
    for (let i = 0; i < iterations; i++) {
      const c0 = process.cpuUsage();
      t0 = performance.now();
      const out = await unet.forward({ sample, context, timesteps, ...(added ? { added } : {}) });
      times.push((performance.now() - t0) / 1000);
      const c = process.cpuUsage(c0);
      cpuTimes.push((c.user + c.system) / 1e6);
      out.dispose();
    }
    const best = times.indexOf(Math.min(...times));
    const seconds = times[best];
    const gflop = unetFlops(unet.config, { frames, height: size, width: size, contextLength }) / 1e9;
    rows.push({
      case: `batch ${frames}, ${size}x${size} latents`,
      precision,
      iterations,
      seconds,
      'first s': times[0],
      GFLOP: gflop,
      'GFLOP/s': gflop / seconds,
      'CPU s': cpuTimes[best],
      'GFLOP/CPU-s': gflop / cpuTimes[best],
      'peak RSS GiB': (process.resourceUsage().maxRSS * 1024) / 2 ** 30,
      'activations peak GiB': engine.memoryStats().peak / 2 ** 30,
      'weights GiB': weightsGiB,
    });
    sample.dispose();
    context.dispose();
    added?.textEmbeds.dispose();
  }
  unet.dispose();
  engine.dispose();
  return { rows, loadSeconds, weightsGiB, kernels: buildInfo().cpuFeatures };
}

// Child process entry: node unet-cpu-forward.mjs --case <precision> <options as JSON>
if (process.argv[1] === here && process.argv[2] === '--case') {
  const r = await forwardRows(process.argv[3], JSON.parse(process.argv[4]));
  process.stdout.write(`${JSON.stringify(r)}\n`);
}

/**
 * Loads the UNet of configs/<configName>/unet with random weights and times one forward per
 * batch size at size × size latents (two iterations at batch 1 unless quick), once per precision
 * (benchPrecisions), each in its own process.
 */
export async function unetCpuForward({ configName, size, batches, quick = false }) {
  const rows = [];
  const notes = [];
  for (const precision of benchPrecisions()) {
    const r = runCaseInChild(here, [precision, JSON.stringify({ configName, size, batches, quick })], `unet-cpu ${configName} ${precision}`);
    rows.push(...r.rows);
    notes.push(
      `${precision}: configs/${configName}/unet with random weights: load ${r.loadSeconds.toFixed(1)} s, ${r.weightsGiB.toFixed(2)} GiB of prepared weights, kernels ${r.kernels}`,
    );
  }
  return {
    rows,
    notes: [
      ...notes,
      PRECISION_NOTE,
      'seconds = wall time of the fastest iteration; CPU s = user + system time of the process during it (on a shared machine GFLOP/CPU-s is the steadier figure)',
      'FLOPs counted from the config: convolutions, linears, attention matmuls (2 per multiply-add)',
    ],
  };
}
