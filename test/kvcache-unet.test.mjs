// The UNet's image-prompt K/V cache (DESIGN.md §5): the decoder self-attention keys/values of
// chosen rows, recorded per step and read back as the attention reference, give the same bits
// as the reference row computed in the batch; sizes follow the config; misuse is refused.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Engine, IndetailError, UNet, decoderKVBytesPerStep, decoderKVLayers } from '../dist/index.js';
import { sameBits } from './helpers/compare.mjs';
import { fixturePath } from './helpers/fixtures.mjs';
import { xorshiftNoise } from './helpers/random.mjs';

const unetDir = fixturePath('tiny-sd15', 'unet');
const engine = new Engine({ backend: 'cpu' });
let tinyUNet;
const tiny = () => (tinyUNet ??= UNet.load(engine, { dir: unetDir }));

const H = 16, W = 16, C = 4;
const per = H * W * C;
// Frames with independent content: frame f of seed s is the same whatever batch it is in.
const frames = (seeds, shape) => {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(seeds.length * n);
  seeds.forEach((s, i) => out.set(xorshiftNoise(n, s), i * n));
  return engine.tensor(out, [seeds.length, ...shape]);
};
const latents = (seeds) => frames(seeds, [H, W, C]);
const contexts = (seeds) => frames(seeds.map((s) => s + 1000), [77, 32]);

const rowsOf = (data, first, count) => data.subarray(first * per, (first + count) * per);

test('a step holds one K and V per decoder self-attention layer, of the size the config implies', async () => {
  const unet = await tiny();
  const layers = decoderKVLayers(unet.config, H, W);
  // tiny config: three CrossAttnUpBlock2D of 3 layers (layers_per_block + 1), depth 1
  assert.equal(unet.kvLayers, 9);
  assert.equal(layers.length, 9);
  assert.deepEqual(layers.map((l) => `${l.tokens}x${l.width}`), ['16x64', '16x64', '16x64', '64x32', '64x32', '64x32', '256x32', '256x32', '256x32']);
  for (const rows of [1, 2]) {
    const cache = unet.createKVCache(3, rows);
    assert.deepEqual([cache.steps, cache.rows, cache.layers, cache.bytes, cache.recordedSteps], [3, rows, 9, 0, 0]);
    const out = await unet.forward({ sample: latents([1, 2, 3]), timesteps: 400, context: contexts([1, 2, 3]), recordKV: { cache, step: 2, rows: rows === 1 ? [0] : [2, 0] } });
    out.dispose();
    assert.equal(cache.bytes, decoderKVBytesPerStep(unet.config, H, W, rows, 4), 'float32 on the CPU');
    assert.deepEqual([cache.has(0), cache.has(2), cache.recordedSteps], [false, true, 1]);
    cache.delete(2);
    assert.deepEqual([cache.has(2), cache.bytes], [false, 0]);
    cache.dispose();
    assert.equal(cache.disposed, true);
  }
  // Odd sizes follow the downsamplers (20x28 -> 10x14 -> 5x7 -> 3x4), as the engine does.
  assert.deepEqual(decoderKVLayers(unet.config, 20, 28).map((l) => l.tokens), [35, 35, 35, 140, 140, 140, 560, 560, 560]);
  assert.deepEqual(decoderKVLayers(unet.config, 9, 9).map((l) => l.tokens), [9, 9, 9, 25, 25, 25, 81, 81, 81]);
  for (const [h, w] of [[20, 28], [9, 9]]) {
    const cache = unet.createKVCache(1, 1);
    const sample = engine.tensor(xorshiftNoise(h * w * C, 5), [1, h, w, C]);
    await unet.forward({ sample, timesteps: 10, context: contexts([1]), recordKV: { cache, step: 0, rows: [0] } });
    assert.equal(cache.bytes, decoderKVBytesPerStep(unet.config, h, w, 1, 4), `${h}x${w}`);
    cache.dispose();
  }
});

test("a row's output does not depend on the other rows of its batch (what the cache's exactness rests on)", async (t) => {
  const unet = await tiny();
  const alone = (await unet.forward({ sample: latents([7]), timesteps: 300, context: contexts([7]) })).readSync();
  const inBatch = (await unet.forward({ sample: latents([5, 7, 9, 11]), timesteps: 300, context: contexts([5, 7, 9, 11]) })).readSync();
  const s = sameBits(rowsOf(inBatch, 1, 1), alone);
  t.diagnostic(`frame alone vs frame 2 of 4: max abs difference ${s.maxAbs}, ${s.differ} values differ`);
  assert.ok(s.equal, `batch composition changes a row's result: max abs ${s.maxAbs} (${s.differ} values)`);
});

for (const [mode, lambdas] of [['concat', {}], ['stratified', { lambdaRef: 0.7, lambdaSelf: 1.3 }], ['replace', {}]]) {
  test(`${mode}: rows reading the recorded keys/values give the bits of the in-batch reference`, async (t) => {
    const unet = await tiny();
    // Conflict-free: [P⁺, A, B] with A, B attending to P⁺; then [A, B] with P⁺ from the cache.
    const cache = unet.createKVCache(1, 1);
    const full = (await unet.forward({
      sample: latents([1, 2, 3]), timesteps: 600, context: contexts([1, 2, 3]),
      attention: { mode, ref: [-1, 0, 0], ...lambdas }, recordKV: { cache, step: 0, rows: [0] },
    })).readSync();
    const cached = (await unet.forward({
      sample: latents([2, 3]), timesteps: 600, context: contexts([2, 3]),
      attention: { mode, ref: [0, 0], ...lambdas }, refKV: { cache, step: 0 },
    })).readSync();
    const s = sameBits(cached, rowsOf(full, 1, 2));
    t.diagnostic(`one cached row: max abs difference ${s.maxAbs}`);
    assert.ok(s.equal, `max abs ${s.maxAbs} (${s.differ} values)`);

    // Conflicting: [P⁻, A⁻, P⁺, A⁺], negatives see P⁻ and positives P⁺; cache rows [P⁺, P⁻].
    const two = unet.createKVCache(1, 2);
    const full2 = (await unet.forward({
      sample: latents([1, 2, 1, 2]), timesteps: 600, context: contexts([4, 5, 1, 2]),
      attention: { mode, ref: [-1, 0, -1, 2], ...lambdas }, recordKV: { cache: two, step: 0, rows: [2, 0] },
    })).readSync();
    const cached2 = (await unet.forward({
      sample: latents([2, 2]), timesteps: 600, context: contexts([5, 2]),
      attention: { mode, ref: [1, 0], ...lambdas }, refKV: { cache: two, step: 0 },
    })).readSync();
    assert.ok(sameBits(rowsOf(cached2, 0, 1), rowsOf(full2, 1, 1)).equal, 'the negative row reads P⁻ (cache row 1)');
    assert.ok(sameBits(rowsOf(cached2, 1, 1), rowsOf(full2, 3, 1)).equal, 'the positive row reads P⁺ (cache row 0)');
    // Without the reference the output is different: the cache is really read.
    const plain = (await unet.forward({ sample: latents([2, 3]), timesteps: 600, context: contexts([2, 3]) })).readSync();
    assert.ok(!sameBits(plain, cached).equal);
    cache.dispose();
    two.dispose();
  });
}

test("attention mode 'none' ignores the cache; recording works in any mode", async () => {
  const unet = await tiny();
  const cache = unet.createKVCache(1, 1);
  await unet.forward({ sample: latents([1, 2]), timesteps: 10, context: contexts([1, 2]), attention: { mode: 'none' }, recordKV: { cache, step: 0, rows: [0] } });
  assert.equal(cache.recordedSteps, 1);
  const a = (await unet.forward({ sample: latents([2]), timesteps: 10, context: contexts([2]), attention: { mode: 'none', ref: [0] }, refKV: { cache, step: 0 } })).readSync();
  const b = (await unet.forward({ sample: latents([2]), timesteps: 10, context: contexts([2]) })).readSync();
  assert.ok(sameBits(a, b).equal);
});

const refused = (code, ...parts) => (err) => {
  assert.ok(err instanceof IndetailError, `expected an IndetailError, got ${err}`);
  assert.equal(err.code, code, err.message);
  for (const p of parts) assert.ok(err.message.includes(p), `message should name ${p}: ${err.message}`);
  return true;
};

test('misuse of the cache is refused with messages that say what is wrong', async () => {
  const unet = await tiny();
  const other = await UNet.load(engine, { dir: unetDir });
  const cache = unet.createKVCache(2, 1);
  const args = { sample: latents([1, 2]), timesteps: 10, context: contexts([1, 2]) };
  await unet.forward({ ...args, recordKV: { cache, step: 0, rows: [0] } });
  const bad = 'ERR_INDETAIL_INVALID_ARGUMENT';
  await assert.rejects(other.forward({ ...args, refKV: { cache, step: 0 }, attention: { mode: 'concat', ref: [0, 0] } }), refused(bad, 'created by this UNet'));
  await assert.rejects(unet.forward({ ...args, recordKV: { cache, step: 2, rows: [0] } }), refused(bad, 'recordKV.step', '[0, 2)'));
  await assert.rejects(unet.forward({ ...args, recordKV: { cache, step: 1, rows: [0, 1] } }), refused(bad, 'recordKV.rows'));
  await assert.rejects(unet.forward({ ...args, recordKV: { cache, step: 1, rows: [2] } }), refused(bad, 'recordKV.rows'));
  await assert.rejects(unet.forward({ ...args, refKV: { cache, step: 0 }, attention: { mode: 'concat', ref: [1, 0] } }), refused(bad, 'attention.ref[0]', 'a row of refKV.cache'));
  await assert.rejects(unet.forward({ ...args, refKV: { cache, step: 1 }, attention: { mode: 'concat', ref: [0, 0] } }), /step 1 is not recorded/);
  await assert.rejects(unet.forward({ ...args, refKV: { cache, step: 0 }, recordKV: { cache, step: 1, rows: [0] } }), refused(bad, 'different caches'));
  await assert.rejects(
    unet.forward({ sample: engine.tensor(xorshiftNoise(2 * 8 * 8 * 4, 3), [2, 8, 8, 4]), timesteps: 10, context: contexts([1, 2]), refKV: { cache, step: 0 }, attention: { mode: 'concat', ref: [0, 0] } }),
    /recorded at another image size/,
  );
  assert.throws(() => unet.createKVCache(0), refused(bad, 'steps'));
  cache.dispose();
  await assert.rejects(unet.forward({ ...args, refKV: { cache, step: 0 } }), refused('ERR_INDETAIL_DISPOSED', 'refKV.cache'));
  other.dispose();
});
