// The pipeline's image-prompt cache on the tiny models: with it, the image prompt's rows leave the
// denoising batch and the inversion is reused, and the outputs are bitwise those of a pipeline
// without it, for the three tasks and both guidance modes, on SD1.5 and on SD2.1 (v-prediction);
// keys that differ miss; the byte budget caches what fits (step by step) and evicts the least
// recently used entries.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { IndetailPipeline, decoderKVBytesPerStep, loadImage } from '../dist/index.js';
import { sameBits } from './helpers/compare.mjs';
import { fixturePath, sd21Root } from './helpers/fixtures.mjs';

const model = fixturePath('tiny-sd15');
const controlnet = fixturePath('tiny-sd15-controlnet');
const image = fixturePath('golden', 'input_image.png');
const control = fixturePath('golden', 'control_image.png');
const STEPS = 3;
const SIZE = 64;
// One stratified step, then KV concatenation; the negative rows get no control in step 0 only.
const base = { image, prompt: 'a cat', steps: STEPS, size: SIZE, stratifiedSteps: 1 };
const structureOptions = { control, controlGuidanceEndStep: 1 };

// The tiny models the three tasks run on with and without the cache (SD1.5 is the default below).
const sd21 = { model: path.join(sd21Root, 'tiny-sd21v'), controlnet: path.join(sd21Root, 'tiny-sd21v-controlnet') };
const MODELS = { 'tiny-sd15': { model, controlnet }, 'tiny-sd21v': sd21 };

let plain; // the reference: no cache (SD1.5)
const plainOf = {}; // per model
before(async () => {
  for (const [name, m] of Object.entries(MODELS)) plainOf[name] = await IndetailPipeline.load({ ...m, backend: 'cpu', kvCache: false });
  plain = plainOf['tiny-sd15'];
});
after(() => Object.values(plainOf).forEach((p) => p.dispose()));
const load = (kvCache, m = MODELS['tiny-sd15']) => IndetailPipeline.load({ ...m, backend: 'cpu', ...(kvCache !== undefined ? { kvCache } : {}) });

/** Runs `options` on `pipe` and on the cache-less pipeline; asserts every step's latents and the images are the same bits. */
async function compareWithPlain(t, pipe, task, options, label, reference = plain) {
  const want = {}, got = {};
  await reference[task]({ ...options, trace: want });
  const r = await pipe[task]({ ...options, trace: got });
  let worst = 0;
  want.stepLatents.forEach((z, i) => {
    const s = sameBits(got.stepLatents[i], z);
    worst = Math.max(worst, s.maxAbs);
    assert.ok(s.equal, `${label}: step ${i} latents differ from the cache-less pipeline (max abs ${s.maxAbs}, ${s.differ} values)`);
  });
  const s = sameBits(got.decoded, want.decoded);
  assert.ok(s.equal, `${label}: decoded images differ (max abs ${s.maxAbs}, ${s.differ} values)`);
  t.diagnostic(`${label}: cache ${r.kvCache.status}, ${r.kvCache.reusedSteps} steps reused, ${r.kvCache.recordedSteps} recorded; max abs difference ${Math.max(worst, s.maxAbs)}`);
  assert.deepEqual(got.kvCache, r.kvCache);
  return r;
}

for (const [modelName, m] of Object.entries(MODELS)) {
  for (const task of ['variation', 'cross', 'structure']) {
    for (const guidanceMode of ['conflict-free', 'conflicting']) {
      test(`${modelName} ${task}, ${guidanceMode}: the recording call and later calls reading the cache give the bits of the cache-less pipeline`, async (t) => {
        const pipe = await load(undefined, m);
        const ref = plainOf[modelName];
        try {
          const o = { ...base, guidanceMode, ...(task === 'structure' ? structureOptions : {}) };
          const first = await compareWithPlain(t, pipe, task, { ...o, samples: 2, seed: 11, includeReconstruction: true }, 'first call', ref);
          assert.equal(first.kvCache.status, 'miss');
          assert.equal(first.kvCache.recordedSteps, STEPS);
          const second = await compareWithPlain(t, pipe, task, { ...o, samples: 3, seed: 12 }, 'second call, 3 samples', ref);
          assert.deepEqual([second.kvCache.status, second.kvCache.reusedSteps, second.kvCache.recordedSteps], ['hit', STEPS, 0]);
          const third = await compareWithPlain(t, pipe, task, { ...o, samples: 1, seed: 13, includeReconstruction: true }, 'third call, 1 sample', ref);
          assert.equal(third.kvCache.status, 'hit');
          const rows = guidanceMode === 'conflicting' ? 2 : 1;
          const h = SIZE / 8;
          const chainBytes = (STEPS + 1) * h * h * 4 * 4;
          const entryBytes = chainBytes + STEPS * decoderKVBytesPerStep(pipe.parts.unet.config, h, h, rows, 4);
          assert.equal(third.kvCache.entryBytes, entryBytes);
          assert.deepEqual(pipe.kvCacheStats(), {
            enabled: true, budget: pipe.kvCacheStats().budget, bytes: entryBytes, entries: 1, hits: 2, misses: 1, evictions: 0, reusedSteps: 2 * STEPS, recordedSteps: STEPS,
          });
        } finally {
          pipe.dispose();
        }
      });
    }
  }
}

test('a different image, inversion prompt, steps or size misses; the same pixels or another prompt with the same inversion prompt hit', async (t) => {
  const pipe = await load();
  try {
    // Hits are compared with the cache-less pipeline; misses only record (their batch is the cache-less one).
    const status = async (task, o, label, compare = true) =>
      (compare ? await compareWithPlain(t, pipe, task, { seed: 5, ...o }, label) : await pipe[task]({ seed: 5, ...o })).kvCache.status;
    assert.equal(await status('cross', base, 'cross'), 'miss');
    const rgb = await loadImage(image, { width: SIZE, height: SIZE });
    assert.equal(await status('cross', { ...base, image: rgb }, 'same pixels as raw RGB'), 'hit');
    assert.equal(await status('cross', { ...base, prompt: 'an owl', negativePrompt: 'blurry' }, 'another prompt, same (empty) inversion prompt'), 'hit');
    const changed = { ...rgb, data: Uint8Array.from(rgb.data) };
    changed.data[100] ^= 1;
    assert.equal(await status('cross', { ...base, image: changed }, 'one pixel changed', false), 'miss');
    assert.equal(await status('cross', { ...base, inversionPrompt: 'a photo' }, 'another inversion prompt', false), 'miss');
    assert.equal(await status('cross', { ...base, steps: 2 }, 'other steps', false), 'miss');
    assert.equal(await status('cross', { ...base, size: 72 }, 'other size', false), 'miss');
    assert.equal(await status('variation', base, 'variation inverts with the prompt', false), 'miss');
    assert.equal(await status('variation', { ...base, prompt: 'a dog' }, 'variation, another prompt = another inversion prompt', false), 'miss');
    assert.equal(await status('structure', { ...base, ...structureOptions }, 'structure runs a ControlNet', false), 'miss');
    assert.equal(await status('cross', { ...base, guidanceMode: 'conflicting' }, 'conflicting guidance caches P⁻ too', false), 'miss');
    assert.equal(await status('cross', { ...base, attention: 'concat', lambdaImage: 0.5, guidanceScale: 3 }, 'attention options do not change P'), 'hit');
    const off = await pipe.cross({ ...base, seed: 5, kvCache: false });
    assert.deepEqual(off.kvCache, { status: 'off', reusedSteps: 0, recordedSteps: 0, entryBytes: 0 });
    assert.equal(pipe.kvCacheStats().entries, 9);
    pipe.clearKVCache();
    assert.deepEqual([pipe.kvCacheStats().entries, pipe.kvCacheStats().bytes], [0, 0]);
    assert.equal((await pipe.cross({ ...base, seed: 5 })).kvCache.status, 'miss');
  } finally {
    pipe.dispose();
  }
});

test('the budget caches the steps that fit and evicts least recently used entries; disabled at load, nothing is cached', async (t) => {
  const h = SIZE / 8;
  const chainBytes = (STEPS + 1) * h * h * 4 * 4;
  const cfg = plain.parts.unet.config;
  const stepBytes = decoderKVBytesPerStep(cfg, h, h, 1, 4);
  const pipe = await load({ maxBytes: chainBytes + stepBytes });
  try {
    const a = await compareWithPlain(t, pipe, 'variation', { ...base, seed: 1 }, 'room for one step');
    assert.deepEqual([a.kvCache.status, a.kvCache.recordedSteps, a.kvCache.entryBytes], ['miss', 1, chainBytes + stepBytes]);
    const b = await compareWithPlain(t, pipe, 'variation', { ...base, seed: 2, samples: 2 }, 'one step from the cache, two with the image prompt in the batch');
    assert.deepEqual([b.kvCache.status, b.kvCache.reusedSteps, b.kvCache.recordedSteps], ['hit', 1, 0]);
    const c = await compareWithPlain(t, pipe, 'variation', { ...base, prompt: 'a dog', seed: 3 }, 'another key');
    assert.deepEqual([c.kvCache.status, c.kvCache.recordedSteps], ['miss', 1]);
    const stats = pipe.kvCacheStats();
    assert.deepEqual([stats.entries, stats.evictions, stats.bytes, stats.budget], [1, 1, chainBytes + stepBytes, chainBytes + stepBytes]);
    assert.equal((await pipe.variation({ ...base, seed: 1 })).kvCache.status, 'miss', 'the first entry was evicted');
  } finally {
    pipe.dispose();
  }
  const tiny = await load({ maxBytes: chainBytes - 1 });
  try {
    const r = await compareWithPlain(t, tiny, 'variation', { ...base, seed: 1 }, 'budget below one chain');
    assert.deepEqual([r.kvCache.status, r.kvCache.recordedSteps, tiny.kvCacheStats().entries], ['miss', 0, 0]);
  } finally {
    tiny.dispose();
  }
  const off = await load(false);
  try {
    const r = await off.variation({ ...base, seed: 1 });
    assert.equal(r.kvCache.status, 'off');
    assert.equal(off.kvCacheStats().enabled, false);
  } finally {
    off.dispose();
  }
  await assert.rejects(load({ maxBytes: -1 }), /kvCache.maxBytes/);
  await assert.rejects(plain.variation({ ...base, kvCache: 'yes' }), /Expected a boolean for kvCache/);
});

test('a cancelled call keeps the steps it recorded; the next call reuses them and records the rest', async (t) => {
  const pipe = await load();
  try {
    const ac = new AbortController();
    const onProgress = (e) => {
      if (e.phase === 'denoise' && e.step === 1) ac.abort();
    };
    await assert.rejects(pipe.variation({ ...base, seed: 4, signal: ac.signal, onProgress }), { code: 'ERR_INDETAIL_CANCELLED' });
    assert.equal(pipe.kvCacheStats().recordedSteps, 1);
    const r = await compareWithPlain(t, pipe, 'variation', { ...base, seed: 4 }, 'after a cancelled call');
    assert.deepEqual([r.kvCache.status, r.kvCache.reusedSteps, r.kvCache.recordedSteps], ['hit', 1, STEPS - 1]);
  } finally {
    pipe.dispose();
  }
});
