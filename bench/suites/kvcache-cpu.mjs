// The image-prompt cache on the CPU: seconds per generation without the cache, for the call that
// records an entry, and for later calls that find it (no VAE encode, no inversion, batch 2n
// instead of 2n+1), for n = 1 and 4 samples; plus the size of one entry for SD1.5 at 512×512 and
// 50 steps, computed from the shipped config.
//   tiny fixture model, 128×128, 10 steps (default; --quick: 5 steps)
//   INDETAIL_BENCH_KV_FULL=1: also full-size SD1.5 with random weights at 512×512 (64×64
//   latents), 2 steps, n = 1 (minutes on a small CPU)
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { IndetailPipeline, decoderKVBytesPerStep, decoderKVLayers, normalizeUNetConfig } from '../../dist/index.js';
import { fixturesRootImage } from '../lib/inputs.mjs';

export const name = 'kvcache-cpu';
export const description = 'image-prompt K/V cache: seconds per generation without / recording / reusing, n = 1 and 4; SD1.5 entry size';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const MB = 1e6;

/** Bytes of one cache entry: the inversion chain plus the K/V of every step. */
function entryBytes(config, size, steps, rows, bytesPerValue) {
  const h = size / 8;
  const chain = (steps + 1) * h * h * config.in_channels * bytesPerValue;
  return chain + steps * decoderKVBytesPerStep(config, h, h, rows, bytesPerValue);
}

async function timeCalls(label, loadOptions, { size, steps, samples, repeats }) {
  const image = fixturesRootImage('input_image.png');
  const call = { image, prompt: 'a photograph of a cat', steps, size, seed: 1 };
  const pipe = await IndetailPipeline.load(loadOptions);
  const rows = [];
  try {
    await pipe.variation({ ...call, steps: 1, kvCache: false }); // warm-up
    for (const n of samples) {
      // Best of `repeats` calls; `fresh` empties the cache before each (every call records).
      const best = async (options, fresh = false) => {
        let t = Infinity;
        let last; // the fastest call
        for (let r = 0; r < repeats; r++) {
          if (fresh) pipe.clearKVCache();
          const res = await pipe.variation({ ...call, samples: n, ...options });
          if (res.timings.total < t) [t, last] = [res.timings.total, res];
        }
        return { t, last };
      };
      const off = await best({ kvCache: false });
      const first = await best({}, true);
      const hit = await best({});
      rows.push({
        model: label,
        samples: n,
        steps,
        'no cache s': off.t,
        'recording s': first.t,
        'cache hit s': hit.t,
        speedup: off.t / hit.t,
        'hit denoise s': hit.last.timings.denoise,
        'no-cache denoise s': off.last.timings.denoise,
        'no-cache inversion s': off.last.timings.inversion,
        'entry MB': hit.last.kvCache.entryBytes / MB,
        status: `${first.last.kvCache.status}/${hit.last.kvCache.status}`,
      });
    }
  } finally {
    pipe.dispose();
  }
  return rows;
}

export async function run({ quick = false } = {}) {
  const rows = [];
  const tiny = path.join(root, process.env.INDETAIL_FIXTURES ?? 'test/fixtures', 'tiny-sd15');
  rows.push(...(await timeCalls('tiny', { model: tiny, backend: 'cpu' }, { size: 128, steps: quick ? 5 : 10, samples: [1, 4], repeats: quick ? 1 : 3 })));
  if (process.env.INDETAIL_BENCH_KV_FULL === '1') {
    rows.push(...(await timeCalls('sd15 (random)', { model: 'sd15', randomWeights: 1, backend: 'cpu' }, { size: 512, steps: 2, samples: [1], repeats: 1 })));
  }

  const sd15 = normalizeUNetConfig(JSON.parse(readFileSync(path.join(root, 'configs', 'sd15', 'unet', 'config.json'), 'utf8')), 'SD1.5 UNet config');
  const perStep = decoderKVBytesPerStep(sd15, 64, 64, 1, 4);
  const layers = decoderKVLayers(sd15, 64, 64);
  const shapes = [...new Set(layers.map((l) => `${l.tokens}×${l.width}`))].join(', ');
  const notes = [
    'speedup = no cache / cache hit, whole call (encode + inversion + denoise + decode); the hit skips the VAE encode and the inversion and runs batch 2n instead of 2n+1',
    `SD1.5 512×512, 50 steps, one entry: ${(entryBytes(sd15, 512, 50, 1, 4) / 1e9).toFixed(3)} GB in float32 (CPU), ${(entryBytes(sd15, 512, 50, 1, 2) / 1e9).toFixed(3)} GB in float16 (CUDA); ` +
      `conflicting guidance (P⁺ and P⁻): ${(entryBytes(sd15, 512, 50, 2, 4) / 1e9).toFixed(3)} GB / ${(entryBytes(sd15, 512, 50, 2, 2) / 1e9).toFixed(3)} GB; ` +
      `per step ${(perStep / MB).toFixed(2)} MB float32 (K and V of ${layers.length} decoder attn1 layers, tokens×width ${shapes})`,
  ];
  if (process.env.INDETAIL_BENCH_KV_FULL !== '1') notes.push('full-size SD1.5 timing: INDETAIL_BENCH_KV_FULL=1 node bench/run.mjs kvcache-cpu');
  return { rows, notes };
}
