// CLIP tokenizer throughput: tokens/s of encode() over a realistic, deterministic prompt mix
// (subjects with style modifiers, negative prompts, some non-ASCII and emoji, a few over 77
// tokens). "no cache": every word goes through BPE; "cold cache": a fresh tokenizer's first pass,
// filling its word cache; "warm cache": later passes, words found in the cache.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLIPTokenizer } from '../../dist/index.js';

export const name = 'tokenizer';
export const description = 'CLIP tokenizer encode() tokens/s: no cache, cold cache, warm cache';

const here = path.dirname(fileURLToPath(import.meta.url));
const tokenizerDir = path.resolve(here, '..', '..', 'test', 'fixtures', 'tiny-sd15', 'tokenizer');

const subjects = [
  'a photograph of a cat', 'an astronaut riding a horse on the moon', 'a cozy cabin in a snowy forest at night',
  'portrait of an old fisherman with a weathered face', 'a bowl of ramen with a soft-boiled egg', 'a red sports car on a coastal road',
  'a medieval castle on a cliff above a stormy sea', 'a golden retriever puppy playing in autumn leaves', 'an owl perched on a mossy branch',
  'a futuristic city skyline with flying cars', 'a penguin wearing a tiny scarf', 'still life of sunflowers in a blue vase',
  'a lighthouse during a thunderstorm', "a child's drawing of a dragon", 'the interior of a gothic cathedral',
  'a hummingbird drinking from a hibiscus flower', 'a samurai standing in a bamboo forest', 'a steampunk airship above the clouds',
];
const modifiers = [
  'best quality', 'extremely detailed', 'highly detailed', 'masterpiece', '8k', '4k uhd', 'trending on artstation', 'octane render',
  'unreal engine 5', 'cinematic lighting', 'volumetric fog', 'golden hour', 'sharp focus', 'bokeh', 'studio photo', 'dslr',
  'by greg rutkowski', 'by alphonse mucha', 'oil painting', 'watercolor', 'concept art', 'digital art', 'hyperrealistic',
  '(masterpiece:1.2)', '[blurry]', 'film grain', 'wide angle', '35mm', 'f/1.8', 'award-winning',
];
const negatives = [
  'bad anatomy, bad hands, cropped, worst quality, low quality, jpeg artifacts, watermark, signature, blurry',
  'lowres, text, error, missing fingers, extra digit, fewer digits, normal quality, username',
  'deformed, disfigured, ugly, duplicate, morbid, mutilated, out of frame, extra limbs', '',
];
const extras = ['🐱', '🔥🔥', 'café', 'Привет мир', '日本語のテキスト', 'naïve résumé', '—', '“quoted”', "it's", 'C++'];

// Deterministic xorshift PRNG, so every run measures the same prompts.
function rng(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

function promptMix(count) {
  const r = rng(12345);
  const pick = (a) => a[Math.floor(r() * a.length)];
  const out = [];
  for (let i = 0; i < count; i++) {
    const kind = r();
    if (kind < 0.25) {
      out.push(pick(negatives));
    } else {
      const parts = [pick(subjects)];
      const n = kind > 0.95 ? 40 : 1 + Math.floor(r() * 8); // ~5% run past 77 tokens
      for (let k = 0; k < n; k++) parts.push(pick(modifiers));
      if (r() < 0.15) parts.push(pick(extras));
      out.push(parts.join(', '));
    }
  }
  return out;
}

function timeEncode(tok, prompts) {
  let tokens = 0;
  const t0 = performance.now();
  for (const p of prompts) tokens += tok.encode(p).numTokensUntruncated - 2;
  return { tokens, seconds: (performance.now() - t0) / 1000 };
}

function row(label, prompts, { tokens, seconds }) {
  return {
    case: label,
    prompts: prompts.length,
    tokens,
    seconds,
    'tokens/s': tokens / seconds,
    'µs/prompt': (seconds * 1e6) / prompts.length,
  };
}

export async function run({ quick = false } = {}) {
  const prompts = promptMix(quick ? 500 : 5000);
  const rows = [];

  let t0 = performance.now();
  const cold = await CLIPTokenizer.fromFolder(tokenizerDir);
  const loadS = (performance.now() - t0) / 1000;
  rows.push({ case: 'load (vocab.json + merges.txt + configs)', prompts: null, tokens: null, seconds: loadS, 'tokens/s': null, 'µs/prompt': null });

  const uncached = await CLIPTokenizer.fromFolder(tokenizerDir, { cacheCapacity: 0 });
  timeEncode(uncached, prompts.slice(0, 50)); // JIT warm-up; no cache to fill
  rows.push(row('no cache (BPE for every word)', prompts, timeEncode(uncached, prompts)));

  rows.push(row('cold cache (first pass, fills the cache)', prompts, timeEncode(cold, prompts)));

  const passes = quick ? 2 : 5;
  let best;
  for (let i = 0; i < passes; i++) {
    const m = timeEncode(cold, prompts);
    if (!best || m.seconds < best.seconds) best = m;
  }
  rows.push(row(`warm cache (best of ${passes} passes)`, prompts, best));

  const stats = cold.cacheStats();
  return {
    rows,
    columns: ['case', 'prompts', 'tokens', 'seconds', 'tokens/s', 'µs/prompt'],
    notes: [
      `tokens = BPE tokens of the whole prompts (no bos/eos/padding); ${stats.size} distinct words in the cache`,
      'encode() includes special-token splitting, cleaning, the regex, BPE, id lookup and the padded Int32Arrays',
    ],
  };
}
