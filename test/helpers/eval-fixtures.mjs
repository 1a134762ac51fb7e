// Shared by the golden handlers of the quality-metric fixtures (test/fixtures-eval): the tiny
// CLIP and DINO models of a fixture root (folders named by the manifest's `models`), loaded once
// per root on the CPU backend, and the conversions between the fixtures' CHW / u8 tensors and
// what the API takes.
import assert from 'node:assert/strict';
import path from 'node:path';
import { CLIPModel, Engine, QualityMetrics, ViTModel, openSafetensors, readImage } from '../../dist/index.js';
import { assertClose } from './compare.mjs';
import { nchwToNhwc } from './layout.mjs';

const cache = new Map();

/** { engine, clip(), dino(), metrics({ dinoLayer }) } for the fixture root of ctx (lazy, shared). */
export function evalModels(ctx) {
  if (!cache.has(ctx.root)) {
    const engine = new Engine({ backend: 'cpu' });
    const models = ctx.manifest.models ?? {};
    const dir = (name) => {
      assert.ok(typeof models[name] === 'string', `the manifest names no '${name}' model folder (models.${name})`);
      return path.join(ctx.root, models[name]);
    };
    let clip, dino;
    cache.set(ctx.root, {
      engine,
      clipDir: () => dir('clip'),
      dinoDir: () => dir('dino'),
      clip: () => (clip ??= CLIPModel.load(engine, dir('clip'))),
      dino: () => (dino ??= ViTModel.load(engine, { dir: dir('dino') })),
      metrics: (options) => QualityMetrics.load({ engine, ...options }),
    });
  }
  return cache.get(ctx.root);
}

/** The golden file's tensors: read(name) -> { data, shape } (u8 tensors come back as floats). */
export async function openGoldenFile(file) {
  const g = await openSafetensors(file);
  return {
    names: () => g.entries().map((e) => e.name),
    read(name) {
      const t = g.tensor(name);
      try {
        return { data: t.readSync(), shape: t.shape };
      } finally {
        t.dispose();
      }
    },
    close: () => g.close(),
  };
}

/** A stored HxWx3 u8 tensor as an RgbImage. */
export function rgbFrom({ data, shape }) {
  const [height, width, c] = shape;
  assert.equal(c, 3, 'u8 pictures are HxWx3');
  return { data: Uint8Array.from(data), width, height };
}

/** Decodes a fixture PNG and checks it holds exactly the stored u8 pixels. */
export async function readPngMatching(ctx, png, stored, label) {
  const img = await readImage(path.join(ctx.root, png));
  const want = rgbFrom(stored);
  assert.deepEqual([img.height, img.width], [want.height, want.width], `${label}: PNG size`);
  assert.ok(img.data.every((v, i) => v === want.data[i]), `${label}: ${png} does not decode to the stored pixels`);
  return img;
}

/** A CHW golden tensor as HWC (the engine's layout). */
export function chwToHwc({ data, shape }) {
  const [c, h, w] = shape;
  return nchwToNhwc(data, [1, c, h, w]);
}

/** assertClose with the diagnostic line every eval case prints; returns the max abs error. */
export function expectClose(t, got, want, tol, label) {
  const s = assertClose(got, want, tol, label);
  t.diagnostic(`${label}: max abs error ${s.maxAbs.toExponential(2)} (atol ${tol.atol ?? 0}${tol.rtol ? `, rtol ${tol.rtol}` : ''})`);
  return s.maxAbs;
}

/** The rows of a [rows, width] array as one Float32Array each. */
export function splitRows(data, rows) {
  const width = data.length / rows;
  return Array.from({ length: rows }, (_, i) => Float32Array.from(data.subarray(i * width, (i + 1) * width)));
}

/** L2-normalised copy of a vector. */
export function normalized(v) {
  const n = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  return Float32Array.from(v, (x) => x / n);
}
