// Text-encoder latency: the full-size SD1.5 CLIP text encoder (configs/sd15/text_encoder, random
// weights) encoding 77-token prompts at batch 1 and 2 on the CPU backend, end to end through
// the TypeScript API (ids in, hidden states resident on the backend out).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { Engine, CLIPTextEncoder } from '../../dist/index.js';

export const name = 'text-encoder';
export const description = 'SD1.5 CLIP text encoder (random weights), 77 tokens, CPU';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

// "a photograph of an astronaut riding a horse" padded with eos, as the tokenizer gives it.
function promptIds(batch) {
  const row = [49406, 320, 8853, 539, 550, 18376, 6765, 320, 4558, 49407];
  const ids = new Int32Array(batch * 77).fill(49407);
  for (let b = 0; b < batch; b++) ids.set(row, b * 77);
  return ids;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function run({ quick = false } = {}) {
  const config = JSON.parse(readFileSync(path.join(root, 'configs', 'sd15', 'text_encoder', 'config.json'), 'utf8'));
  const engine = new Engine({ backend: 'cpu' });
  const rows = [];
  try {
    let t0 = performance.now();
    const encoder = await CLIPTextEncoder.load(engine, { config, weights: { random: 1 } });
    rows.push({ case: 'load (random weights, 123M params)', batch: null, 'median ms': performance.now() - t0, 'min ms': null, runs: 1 });
    const iterations = quick ? 3 : 10;
    for (const batch of [1, 2]) {
      const ids = promptIds(batch);
      (await encoder.encode(ids, batch)).lastHiddenState.dispose(); // warm-up
      const times = [];
      for (let i = 0; i < iterations; i++) {
        t0 = performance.now();
        const out = await encoder.encode(ids, batch);
        times.push(performance.now() - t0);
        out.lastHiddenState.dispose();
      }
      rows.push({ case: 'encode 77 tokens', batch, 'median ms': median(times), 'min ms': Math.min(...times), runs: iterations });
    }
    encoder.dispose();
    return {
      rows,
      columns: ['case', 'batch', 'median ms', 'min ms', 'runs'],
      notes: ['f32 on the CPU backend; times include the async round trip from JavaScript'],
    };
  } finally {
    engine.dispose();
  }
}
