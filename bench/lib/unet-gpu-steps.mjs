// UNet steps on the GPU with random weights from a shipped config (the unet-gpu suites): per batch
// size, with the image-prompt attention policy active in the decoder (the conflict-free layout),
// CUDA graphs off (every kernel launched by the host) and on (one graph replay per step). Median
// time per forward (synchronised), TFLOP/s over the graph's FLOPs (counted from the config, as
// unet-cpu does), % of the card's dense fp16 peak, peak device memory, the memory a graph holds.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine, UNet, devices, unetFlops } from '../../dist/index.js';
import { lcgNoise } from './random.mjs';
import { addedConditions } from './unet-cpu-forward.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DENSE_FP16_PEAK_TFLOPS = { H100: 989, H200: 989 };

export function cardPeak() {
  const d = devices()[0];
  const key = Object.keys(DENSE_FP16_PEAK_TFLOPS).find((k) => d?.name.includes(k));
  return { name: d?.name ?? 'unknown', peak: key ? DENSE_FP16_PEAK_TFLOPS[key] : undefined };
}

/** Times configs/<configName>/unet at size × size latents for each batch size (graphs off, then on). */
export async function unetGpuSteps({ configName, size, batches, quick = false }) {
  const engine = new Engine({ backend: 'cuda' });
  const config = JSON.parse(readFileSync(path.join(root, 'configs', configName, 'unet', 'config.json'), 'utf8'));
  let t0 = performance.now();
  const unet = await UNet.load(engine, { config, weights: { random: 1 } });
  const loadSeconds = (performance.now() - t0) / 1000;
  const { name: card, peak } = cardPeak();
  const ctxDim = unet.config.cross_attention_dim[0];
  const rows = [];
  const failures = [];
  for (const frames of batches) {
    const sample = engine.tensor(lcgNoise(frames * size * size * 4, 1), [frames, size, size, 4]);
    const context = engine.tensor(lcgNoise(frames * 77 * ctxDim, 2), [frames, 77, ctxDim]);
    const added = addedConditions(engine, unet.config, frames, size);
    const timesteps = Array(frames).fill(501);
    // Conflict-free layout: row 0 = P⁺, then negatives, then positives that attend to P⁺.
    const half = Math.floor((frames - 1) / 2);
    const ref = Array.from({ length: frames }, (_, r) => (frames > 1 && r > half ? 0 : -1));
    const args = { sample, context, timesteps, attention: { mode: 'stratified', ref, lambdaRef: 1, lambdaSelf: 1 }, ...(added ? { added } : {}) };
    const flops = unetFlops(unet.config, { frames, height: size, width: size, contextLength: 77 });
    for (const graphs of [false, true]) {
      unet.cudaGraphs = graphs; // off drops the graph of the previous batch size
      // Warm-up: with graphs, the first forward runs eagerly and the second records the graph.
      for (let i = 0; i < 3; i++) (await unet.forward(args)).dispose();
      await engine.synchronize();
      const times = [];
      for (let i = 0; i < (quick ? 5 : 20); i++) {
        t0 = performance.now();
        const out = await unet.forward(args);
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
    added?.textEmbeds.dispose();
  }
  const weightsGiB = engine.memoryStats().weights / 2 ** 30;
  unet.dispose();
  engine.dispose();
  return {
    rows,
    notes: [
      `configs/${configName}/unet, ${size}x${size} latents; ${card}; dense fp16 peak ${peak ?? '?'} TFLOP/s; weights ${weightsGiB.toFixed(2)} GiB resident; load ${loadSeconds.toFixed(1)} s; time = forward + synchronize, median of ${quick ? 5 : 20}`,
      ...failures.map((f) => `CUDA graph recording failed (that row ran eagerly): ${f}`),
    ],
  };
}
