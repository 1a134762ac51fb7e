// UNet step on the GPU: full-size SD1.5 (random weights), 64×64 latents, batch 1, 2, 3 and 9
// (9 = the conflict-free batch of 4 samples: P⁺ + 4 negative + 4 positive rows), with the
// image-prompt attention policy active in the decoder, with CUDA graphs off (every kernel
// launched by the host) and on (one graph replay per step). Median time per forward
// (synchronised), TFLOP/s over the graph's FLOPs (counted from the config, as unet-cpu does), %
// of the card's dense fp16 peak, peak device memory, and the memory the graph holds.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine, UNet, backends, devices, unetFlops } from '../../dist/index.js';
import { lcgNoise } from '../lib/random.mjs';

export const name = 'unet-gpu';
export const description = 'full-size SD1.5 UNet step on CUDA at 64x64, batch 1/2/3/9, CUDA graphs off/on, TFLOP/s, peak memory';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DENSE_FP16_PEAK_TFLOPS = { H100: 989, H200: 989 };

export function cardPeak() {
  const d = devices()[0];
  const key = Object.keys(DENSE_FP16_PEAK_TFLOPS).find((k) => d?.name.includes(k));
  return { name: d?.name ?? 'unknown', peak: key ? DENSE_FP16_PEAK_TFLOPS[key] : undefined };
}

export async function run({ quick = false } = {}) {
  if (!backends().includes('cuda')) return { skipped: 'no CUDA device' };
  const engine = new Engine({ backend: 'cuda' });
  const config = JSON.parse(readFileSync(path.join(root, 'configs', 'sd15', 'unet', 'config.json'), 'utf8'));
  let t0 = performance.now();
  const unet = await UNet.load(engine, { config, weights: { random: 1 } });
  const loadSeconds = (performance.now() - t0) / 1000;
  const { name: card, peak } = cardPeak();
  const ctxDim = unet.config.cross_attention_dim[0];
  const rows = [];
  const failures = [];
  for (const frames of quick ? [2] : [1, 2, 3, 9]) {
    const sample = engine.tensor(lcgNoise(frames * 64 * 64 * 4, 1), [frames, 64, 64, 4]);
    const context = engine.tensor(lcgNoise(frames * 77 * ctxDim, 2), [frames, 77, ctxDim]);
    const timesteps = Array(frames).fill(501);
    // Conflict-free layout: row 0 = P⁺, then negatives, then positives that attend to P⁺.
    const half = Math.floor((frames - 1) / 2);
    const ref = Array.from({ length: frames }, (_, r) => (frames > 1 && r > half ? 0 : -1));
    const attention = { mode: 'stratified', ref, lambdaRef: 1, lambdaSelf: 1 };
    const flops = unetFlops(unet.config, { frames, height: 64, width: 64, contextLength: 77 });
    for (const graphs of [false, true]) {
      unet.cudaGraphs = graphs; // off drops the graph of the previous batch size
      // Warm-up: with graphs, the first forward runs eagerly and the second records the graph.
      for (let i = 0; i < 3; i++) (await unet.forward({ sample, context, timesteps, attention })).dispose();
      await engine.synchronize();
      const times = [];
      for (let i = 0; i < (quick ? 5 : 20); i++) {
        t0 = performance.now();
        const out = await unet.forward({ sample, context, timesteps, attention });
        await engine.synchronize();
        times.push((performance.now() - t0) / 1000);
        out.dispose();
      }
      times.sort((a, b) => a - b);
      const s = times[times.length >> 1];
      const tflops = flops / s / 1e12;
      const g = unet.graphStats();
      rows.push({
        batch: frames,
        graphs: graphs ? (g.failures ? 'FAILED' : 'on') : 'off',
        'ms/step': s * 1e3,
        'min ms': times[0] * 1e3,
        TFLOP: flops / 1e12,
        'TFLOP/s': tflops,
        '% peak': peak ? (100 * tflops) / peak : null,
        'peak GiB': engine.memoryStats().peak / 2 ** 30,
        'graph MiB': graphs ? g.bytes / 2 ** 20 : null,
        'graph ops': graphs ? g.operations : null,
      });
      if (graphs && g.failures) failures.push(`batch ${frames}: ${g.lastFailure}`);
    }
    sample.dispose();
    context.dispose();
  }
  const weightsGiB = engine.memoryStats().weights / 2 ** 30;
  unet.dispose();
  engine.dispose();
  return {
    rows,
    notes: [
      `${card}; dense fp16 peak ${peak ?? '?'} TFLOP/s; weights ${weightsGiB.toFixed(2)} GiB resident; load ${loadSeconds.toFixed(1)} s; time = forward + synchronize, median of 20`,
      ...failures.map((f) => `CUDA graph recording failed (that row ran eagerly): ${f}`),
    ],
  };
}
