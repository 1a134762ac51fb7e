// Tiled VAE encode/decode on the tiny model, with tiling forced on small images:
//  1. one tile covering the image is the untiled pass, bit for bit;
//  2. with the whole model per tile (globalMidBlock false) the result is exactly the documented
//     blend (engine/models/vae_tiling.h) of untiled passes over the tiles, recomputed here in JS;
//  3. the default tiling (mid block once on the whole latent) approximates the untiled pass; the
//     error is model dependent (GroupNorm statistics and zero padding per tile), large on this
//     randomly initialised model, and reported as a diagnostic.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Engine, VAE, openSafetensors } from '../dist/index.js';
import { closeness, maxAbsDiff } from './helpers/compare.mjs';
import { fixturePath } from './helpers/fixtures.mjs';
import { nchwToNhwc } from './helpers/layout.mjs';

const engine = new Engine({ backend: 'cpu' });
const vaePromise = VAE.load(engine, { dir: fixturePath('tiny-sd15', 'vae'), tiling: { mode: 'never' } });

async function goldenNhwc(file, name) {
  const f = await openSafetensors(fixturePath('golden', file));
  const t = f.tensor(name);
  const [n, c, h, w] = t.shape;
  const data = nchwToNhwc(await t.readFloat32(), [n, c, h, w]);
  t.dispose();
  f.close();
  return { data, shape: [n, h, w, c] };
}

// The tile plan and blend ramps as documented in engine/models/vae_tiling.h (latent pixels).
function plan(length, tile, overlap) {
  if (length <= tile) return [{ start: 0, size: length }];
  const n = Math.max(2, Math.ceil((length - overlap) / (tile - overlap)));
  const size = Math.min(tile, Math.ceil((length + (n - 1) * overlap) / n));
  return Array.from({ length: n }, (_, k) => ({ start: Math.floor((k * (length - size)) / (n - 1) + 0.5), size }));
}
function ramp(spans, k, scale) {
  const start = spans[k].start * scale;
  const size = spans[k].size * scale;
  const before = k > 0 ? Math.max(0, (spans[k - 1].start + spans[k - 1].size) * scale - start) : 0;
  const after = k + 1 < spans.length ? Math.max(0, start + size - spans[k + 1].start * scale) : 0;
  return Array.from({ length: size }, (_, i) => {
    let v = 1;
    if (before > 0) v = Math.min(v, (i + 0.5) / before);
    if (after > 0) v = Math.min(v, (size - i - 0.5) / after);
    return v;
  });
}
function crop({ data, shape: [n, h, w, c] }, y0, x0, th, tw) {
  const out = new Float32Array(n * th * tw * c);
  for (let f = 0; f < n; f++)
    for (let y = 0; y < th; y++) out.set(data.subarray(((f * h + y0 + y) * w + x0) * c, ((f * h + y0 + y) * w + x0 + tw) * c), ((f * th + y) * tw) * c);
  return out;
}

// Runs `pass` (untiled) on every tile of `input` and blends the outputs in JavaScript.
async function blendOfTiles(input, { inScale, outScale, outChannels, tile, overlap }, pass) {
  const [n, h, w, c] = input.shape;
  const rows = plan(h / inScale, tile, overlap);
  const cols = plan(w / inScale, tile, overlap);
  const oh = (h / inScale) * outScale;
  const ow = (w / inScale) * outScale;
  const acc = new Float64Array(n * oh * ow * outChannels);
  const wsum = new Float64Array(oh * ow);
  for (let ty = 0; ty < rows.length; ty++) {
    const wy = ramp(rows, ty, outScale);
    for (let tx = 0; tx < cols.length; tx++) {
      const wx = ramp(cols, tx, outScale);
      const th = rows[ty].size * inScale;
      const tw = cols[tx].size * inScale;
      const t = engine.tensor(crop(input, rows[ty].start * inScale, cols[tx].start * inScale, th, tw), [n, th, tw, c]);
      const outT = await pass(t);
      const out = await outT.readFloat32();
      t.dispose();
      outT.dispose();
      const oth = rows[ty].size * outScale;
      const otw = cols[tx].size * outScale;
      const y0 = rows[ty].start * outScale;
      const x0 = cols[tx].start * outScale;
      for (let y = 0; y < oth; y++)
        for (let x = 0; x < otw; x++) {
          const wt = wy[y] * wx[x];
          wsum[(y0 + y) * ow + x0 + x] += wt;
          for (let f = 0; f < n; f++)
            for (let ch = 0; ch < outChannels; ch++) acc[((f * oh + y0 + y) * ow + x0 + x) * outChannels + ch] += wt * out[((f * oth + y) * otw + x) * outChannels + ch];
        }
    }
  }
  const out = new Float32Array(acc.length);
  for (let i = 0; i < acc.length; i++) out[i] = acc[i] / wsum[Math.floor(i / outChannels) % (oh * ow)];
  return { out, tiles: rows.length * cols.length };
}

function relativeError(actual, expected) {
  let abs = 0;
  let sq = 0;
  for (let i = 0; i < expected.length; i++) {
    abs += Math.abs(actual[i] - expected[i]);
    sq += expected[i] * expected[i];
  }
  return { meanAbs: abs / expected.length, rms: Math.sqrt(sq / expected.length) };
}

test('one tile covering the image reproduces the untiled pass exactly', async () => {
  const vae = await vaePromise;
  const img = await goldenNhwc('vae_encode.safetensors', 'image');
  const lat = await goldenNhwc('vae_decode_nonsquare.safetensors', 'latents');
  const image = engine.tensor(img.data, img.shape);
  const latents = engine.tensor(lat.data, lat.shape);
  for (const globalMidBlock of [true, false]) {
    const tiling = { mode: 'always', tileSize: 256, overlap: 64, globalMidBlock };
    const a = await (await vae.encode(image)).mean.readFloat32();
    const b = await (await vae.encode(image, { tiling })).mean.readFloat32();
    assert.equal(maxAbsDiff(a, b), 0);
    const c = await (await vae.decode(latents)).readFloat32();
    const d = await (await vae.decode(latents, { tiling })).readFloat32();
    assert.equal(maxAbsDiff(c, d), 0);
  }
});

test('tiles of the whole model are blended exactly as documented (square encode, non-square decode)', async (t) => {
  const vae = await vaePromise;
  const tiling = { mode: 'always', tileSize: 64, overlap: 16, globalMidBlock: false };

  const img = await goldenNhwc('vae_encode.safetensors', 'image'); // 128×128: 3×3 tiles of 56 px
  const image = engine.tensor(img.data, img.shape);
  const tiled = await (await vae.encode(image, { tiling })).mean.readFloat32();
  const ref = await blendOfTiles(img, { inScale: 8, outScale: 1, outChannels: 4, tile: 8, overlap: 2 }, async (x) => (await vae.encode(x)).mean);
  assert.equal(ref.tiles, 9);
  const e = closeness(tiled, ref.out, { atol: 1e-4, rtol: 1e-5 });
  t.diagnostic(`encode: ${ref.tiles} tiles, max abs difference to the JS blend ${e.maxAbs.toExponential(2)}`);
  assert.equal(e.violations, 0, `encode: max abs difference ${e.maxAbs}`);

  const lat = await goldenNhwc('vae_decode_nonsquare.safetensors', 'latents'); // 12×20 latent: 2×3 tiles
  const latents = engine.tensor(lat.data, lat.shape);
  const tiledImage = await (await vae.decode(latents, { tiling })).readFloat32();
  const refImage = await blendOfTiles(lat, { inScale: 1, outScale: 8, outChannels: 3, tile: 8, overlap: 2 }, (x) => vae.decode(x));
  assert.equal(refImage.tiles, 6);
  const d = closeness(tiledImage, refImage.out, { atol: 1e-5, rtol: 1e-5 });
  t.diagnostic(`decode: ${refImage.tiles} tiles, max abs difference to the JS blend ${d.maxAbs.toExponential(2)}`);
  assert.equal(d.violations, 0, `decode: max abs difference ${d.maxAbs}`);
});

test('tiled encode and decode approximate the untiled passes (forced tiling on 128×128)', async (t) => {
  const vae = await vaePromise;
  const img = await goldenNhwc('vae_encode.safetensors', 'image');
  const lat = await goldenNhwc('vae_decode.safetensors', 'latents');
  const image = engine.tensor(img.data, img.shape);
  const latents = engine.tensor(lat.data, lat.shape);
  const exactMean = await (await vae.encode(image)).mean.readFloat32();
  const exactImage = await (await vae.decode(latents)).readFloat32();
  const errors = {};
  for (const globalMidBlock of [true, false]) {
    const tiling = { mode: 'always', tileSize: 64, overlap: 32, globalMidBlock };
    const mean = await (await vae.encode(image, { tiling })).mean.readFloat32();
    const decoded = await (await vae.decode(latents, { tiling })).readFloat32();
    const e = relativeError(mean, exactMean);
    const d = relativeError(decoded, exactImage);
    errors[globalMidBlock] = { e, d };
    t.diagnostic(
      `globalMidBlock ${globalMidBlock}: encode mean max abs ${maxAbsDiff(mean, exactMean).toFixed(3)}, mean abs ${e.meanAbs.toFixed(3)} ` +
        `(latent rms ${e.rms.toFixed(3)}); decode max abs ${maxAbsDiff(decoded, exactImage).toFixed(3)}, mean abs ${d.meanAbs.toFixed(4)} (image rms ${d.rms.toFixed(3)})`,
    );
    // Loose bounds for this random model: tiles 4× smaller than the image in each dimension.
    assert.ok(d.meanAbs < 0.25 * d.rms, `decode mean abs error ${d.meanAbs} vs rms ${d.rms}`);
    assert.ok(e.meanAbs < 0.6 * e.rms, `encode mean abs error ${e.meanAbs} vs rms ${e.rms}`);
  }
  assert.ok(errors.true.d.meanAbs < errors.false.d.meanAbs, 'decoding the mid block globally is closer to the untiled pass');
});

test('with production-like tiles (256 px, 128 px overlap) tiled decoding agrees closely with the untiled pass', async (t) => {
  const vae = await vaePromise;
  // A 384×384 image (48×48 latents) decoded as 2×2 tiles of 256 px: the tile/image ratio of a
  // 1024 px decode with 512 px tiles. Only GroupNorm statistics and zero padding at tile borders
  // differ from the untiled pass.
  let s = 3;
  const data = Float32Array.from({ length: 48 * 48 * 4 }, () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return (s / 2 ** 32) * 6 - 3;
  });
  const latents = engine.tensor(data, [1, 48, 48, 4]);
  const exact = await (await vae.decode(latents, { tiling: { mode: 'never' } })).readFloat32();
  const tiled = await (await vae.decode(latents, { tiling: { mode: 'always', tileSize: 256, overlap: 128 } })).readFloat32();
  const d = relativeError(tiled, exact);
  const max = maxAbsDiff(tiled, exact);
  t.diagnostic(`decode 384×384 in 256 px tiles: max abs ${max.toFixed(3)}, mean abs ${d.meanAbs.toFixed(4)} (image rms ${d.rms.toFixed(3)}; 1 level of 8-bit output = ${(2 / 255).toFixed(4)})`);
  assert.ok(d.meanAbs < 0.05 * d.rms, `mean abs error ${d.meanAbs} is not below 5% of the image rms ${d.rms}`);
  assert.ok(max < 0.3, `max abs error ${max}`);
});
