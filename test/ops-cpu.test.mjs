// The CPU backend's non-GEMM ops against naive JavaScript references: activations, add,
// scale_frames, concat_channels, group_norm, layer_norm, upsample_nearest, timestep_embedding,
// embedding and guidance_step, plus their argument errors. (GEMM ops: ops-cpu-gemm.test.mjs;
// attention: ops-cpu-attention.test.mjs; the ISA fallbacks: ops-cpu-levels.test.mjs.)
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { Engine } from '../dist/index.js';
import { assertClose } from './helpers/compare.mjs';
import { activate, groupNormRef, layerNormRef, randArray } from './helpers/ops-cpu-reference.mjs';

const engine = new Engine({ backend: 'cpu' });
const f32 = Math.fround;
let seed = 500;

function bad(op, args, re) {
  assert.throws(
    () => engine.opSync(op, args),
    (err) => err.code === 'ERR_INDETAIL_INVALID_ARGUMENT' && err.message.startsWith(`${op}: `) && re.test(err.message),
    `${op} should refuse ${re}`,
  );
}

test('activations match their definitions (exact-erf GELU, tanh GELU, QuickGELU, SiLU)', () => {
  const n = 1000 + 13;
  const x = randArray(n, seed++, -9, 9);
  x.set([0, -0, 1e-8, -1e-8, 40, -40, 100, -100, 3.4e38, -3.4e38]);
  const tx = engine.tensor(x, [n]);
  for (const act of ['none', 'silu', 'gelu', 'gelu_tanh', 'quick_gelu']) {
    const out = engine.empty([n]);
    engine.opSync('activation', { x: tx, out, act });
    const want = Array.from(x, (v) => activate(v, act));
    assertClose(out.readSync(), want, { atol: 1e-6, rtol: 2e-6 }, act);
  }
});

test('add, scale_frames and concat_channels', () => {
  const a = randArray(3 * 37, seed++);
  const b = randArray(3 * 37, seed++);
  const ta = engine.tensor(a, [3, 37]);
  const tb = engine.tensor(b, [3, 37]);
  const out = engine.empty([3, 37]);
  engine.opSync('add', { a: ta, b: tb, out });
  assert.deepEqual(out.readSync(), Float32Array.from(a, (v, i) => v + b[i]));
  engine.opSync('add', { a: ta, b: tb, out, alpha: -0.5 });
  assertClose(out.readSync(), Array.from(a, (v, i) => v - 0.5 * b[i]), { atol: 1e-7, rtol: 1e-7 }, 'alpha');

  engine.opSync('scale_frames', { x: ta, out, scale: [0, 1, -2.5] });
  assert.deepEqual(out.readSync(), Float32Array.from(a, (v, i) => v * [0, 1, -2.5][Math.floor(i / 37)]));

  const c = engine.empty([3, 2, 2, 9]);
  const pa = randArray(3 * 2 * 2 * 5, seed++);
  const pb = randArray(3 * 2 * 2 * 4, seed++);
  engine.opSync('concat_channels', { a: engine.tensor(pa, [3, 2, 2, 5]), b: engine.tensor(pb, [3, 2, 2, 4]), out: c });
  const want = [];
  for (let p = 0; p < 12; p++) want.push(...pa.subarray(p * 5, p * 5 + 5), ...pb.subarray(p * 4, p * 4 + 4));
  assert.deepEqual(c.readSync(), Float32Array.from(want));
});

function groupNormCase(label, { n, h, w, c, groups, silu = false, eps = 1e-5, offset = 0, spread = 1 }) {
  const p = h * w;
  const x = randArray(n * p * c, seed++, offset - spread, offset + spread);
  const gamma = randArray(c, seed++, 0.5, 1.5);
  const beta = randArray(c, seed++);
  const out = engine.empty([n, h, w, c]);
  engine.opSync('group_norm', {
    x: engine.tensor(x, [n, h, w, c]),
    gamma: engine.tensor(gamma, [c]),
    beta: engine.tensor(beta, [c]),
    out,
    groups,
    eps,
    silu,
  });
  assertClose(out.readSync(), groupNormRef(x, gamma, beta, { n, p, c, groups, eps, silu }), { atol: 1e-5, rtol: 1e-5 }, label);
}

test('group_norm over frames and groups, with fused SiLU', () => {
  groupNormCase('2 groups', { n: 2, h: 4, w: 5, c: 8, groups: 2 });
  groupNormCase('1 group', { n: 1, h: 3, w: 3, c: 6, groups: 1 });
  groupNormCase('32 groups of 2, SiLU', { n: 2, h: 16, w: 17, c: 64, groups: 32, silu: true });
  groupNormCase('odd channels per group (3), more than one chunk', { n: 1, h: 25, w: 23, c: 21, groups: 7, eps: 1e-6 });
});

test('group_norm and layer_norm keep full precision when the mean is large', () => {
  groupNormCase('mean 300, spread 0.01', { n: 2, h: 20, w: 20, c: 8, groups: 4, offset: 300, spread: 0.01, eps: 1e-12 });
  const rows = 5;
  const c = 1280;
  const x = randArray(rows * c, seed++, 299.99, 300.01);
  const gamma = randArray(c, seed++, 0.5, 1.5);
  const beta = randArray(c, seed++);
  const out = engine.empty([rows, c]);
  engine.opSync('layer_norm', { x: engine.tensor(x, [rows, c]), gamma: engine.tensor(gamma, [c]), beta: engine.tensor(beta, [c]), out, eps: 1e-12 });
  assertClose(out.readSync(), layerNormRef(x, gamma, beta, { rows, c, eps: 1e-12 }), { atol: 1e-5, rtol: 1e-5 }, 'layer_norm');
});

test('layer_norm over the last dimension', () => {
  for (const [rows, c] of [[7, 7], [33, 33], [2 * 77, 32], [3, 320]]) {
    const x = randArray(rows * c, seed++, -3, 3);
    const gamma = randArray(c, seed++);
    const beta = randArray(c, seed++);
    const out = engine.empty([rows, c]);
    engine.opSync('layer_norm', { x: engine.tensor(x, [rows, c]), gamma: engine.tensor(gamma, [c]), beta: engine.tensor(beta, [c]), out });
    assertClose(out.readSync(), layerNormRef(x, gamma, beta, { rows, c }), { atol: 1e-5, rtol: 1e-5 }, `${rows}x${c}`);
  }
});

// PyTorch's nearest index for a given output size, in float32.
function nearest(dst, inSize, outSize) {
  if (outSize === inSize) return dst;
  if (outSize === 2 * inSize) return dst >> 1;
  return Math.min(Math.floor(f32(dst * f32(inSize / outSize))), inSize - 1);
}

test('upsample_nearest to any size uses PyTorch float index arithmetic', () => {
  for (const [h, w, ho, wo] of [[3, 4, 6, 8], [3, 4, 5, 7], [5, 7, 10, 14], [10, 14, 20, 28], [7, 5, 3, 11], [1, 1, 3, 2]]) {
    const c = 3;
    const x = randArray(2 * h * w * c, seed++);
    const out = engine.empty([2, ho, wo, c]);
    engine.opSync('upsample_nearest', { x: engine.tensor(x, [2, h, w, c]), out });
    const want = new Float32Array(2 * ho * wo * c);
    for (let b = 0; b < 2; b++)
      for (let y = 0; y < ho; y++)
        for (let xo = 0; xo < wo; xo++)
          for (let ch = 0; ch < c; ch++)
            want[((b * ho + y) * wo + xo) * c + ch] = x[((b * h + nearest(y, h, ho)) * w + nearest(xo, w, wo)) * c + ch];
    assert.deepEqual(out.readSync(), want, `${h}x${w} -> ${ho}x${wo}`);
  }
  // the float rule differs from exact rationals: 3 -> 9 picks floor(3 · f32(1/3)) = 1
  assert.equal(nearest(3, 3, 9), 1);
});

test('timestep_embedding follows diffusers get_timestep_embedding in float32', () => {
  const t = Float32Array.from([0, 1, 37.5, 981]);
  const cases = [
    { dim: 32, flipSinToCos: true, freqShift: 0 },
    { dim: 320, flipSinToCos: true, freqShift: 0 },
    { dim: 7, flipSinToCos: false, freqShift: 1, scale: 2, maxPeriod: 1000 },
  ];
  for (const o of cases) {
    const { dim, flipSinToCos, freqShift, scale = 1, maxPeriod = 10000 } = o;
    const out = engine.empty([t.length, dim]); // the op takes the embedding width from out
    const { dim: _width, ...args } = o;
    engine.opSync('timestep_embedding', { t: engine.tensor(t, [t.length]), out, ...args });
    const half = dim >> 1;
    const want = new Float32Array(t.length * dim);
    for (let r = 0; r < t.length; r++)
      for (let i = 0; i < half; i++) {
        const freq = f32(Math.exp(f32(f32(f32(-Math.log(maxPeriod)) * i) / f32(half - freqShift))));
        const arg = f32(scale * f32(t[r] * freq));
        want[r * dim + (flipSinToCos ? half : 0) + i] = Math.sin(arg);
        want[r * dim + (flipSinToCos ? 0 : half) + i] = Math.cos(arg);
      }
    // 1e-4: one ulp of a frequency moves sin(981 · f) by up to 6e-5
    assertClose(out.readSync(), want, { atol: 1e-4 }, `dim ${dim}`);
    if (dim % 2) for (let r = 0; r < t.length; r++) assert.equal(out.readSync()[r * dim + dim - 1], 0);
  }
});

test('embedding looks up table rows and refuses ids outside the table', () => {
  const table = randArray(10 * 6, seed++);
  const ids = Int32Array.from([0, 9, 3, 3, 7, 1]);
  const out = engine.empty([2, 3, 6]);
  const tt = engine.prepareWeight(engine.tensor(table, [10, 6]), 'table');
  engine.opSync('embedding', { ids: engine.tensor(ids, [2, 3]), table: tt, out });
  const want = [];
  for (const id of ids) want.push(...table.subarray(id * 6, id * 6 + 6));
  assert.deepEqual(out.readSync(), Float32Array.from(want));
  bad('embedding', { ids: engine.tensor(Int32Array.from([0, 10, 0, 0, 0, 0]), [2, 3]), table: tt, out }, /id 10 at position 1/);
  bad('embedding', { ids: engine.tensor(ids, [2, 3]), table: tt, out: engine.empty([2, 3, 5]) }, /out must have shape/);
});

test('guidance_step: CFG combine, DDIM step, v-prediction and the reset frame', () => {
  const per = 2 * 3 * 4;
  const eps = randArray(6 * per, seed++);
  const x = randArray(3 * per, seed++, -3, 3);
  const reset = randArray(per, seed++);
  const base = { alphaFrom: 0.3, alphaTo: 0.55 };
  const run = (p, withReset) => {
    const out = engine.empty([3, 2, 3, 4]);
    engine.opSync('guidance_step', {
      eps: engine.tensor(eps, [6, 2, 3, 4]),
      x: engine.tensor(x, [3, 2, 3, 4]),
      reset: withReset ? engine.tensor(reset, [1, 2, 3, 4]) : undefined,
      out,
      ...base,
      ...p,
    });
    return out.readSync();
  };
  const ref = ({ guidanceScale = 1, uncondRow, condRow, vPrediction = false, resetFrame = -1, alphaFrom, alphaTo }) => {
    const out = new Float64Array(3 * per);
    const sa = Math.sqrt(alphaFrom);
    const sb = Math.sqrt(1 - alphaFrom);
    for (let f = 0; f < 3; f++)
      for (let i = 0; i < per; i++) {
        if (f === resetFrame) {
          out[f * per + i] = reset[i];
          continue;
        }
        const u = uncondRow[f] >= 0 ? eps[uncondRow[f] * per + i] : null;
        const c = condRow[f] >= 0 ? eps[condRow[f] * per + i] : null;
        let e = c === null ? u : u === null ? c : u + guidanceScale * (c - u);
        const xi = x[f * per + i];
        const x0 = vPrediction ? sa * xi - sb * e : (xi - sb * e) / sa;
        if (vPrediction) e = sa * e + sb * xi;
        out[f * per + i] = Math.sqrt(alphaTo) * x0 + Math.sqrt(1 - alphaTo) * e;
      }
    return out;
  };
  const cases = [
    { guidanceScale: 7.5, uncondRow: [0, 1, 2], condRow: [3, 4, 5], resetFrame: 0 },
    { uncondRow: [-1, -1, -1], condRow: [5, 4, 3] },
    { uncondRow: [2, 1, 0], condRow: [-1, -1, -1] },
    { guidanceScale: 5, uncondRow: [-1, 1, 2], condRow: [3, 4, 5], vPrediction: true, resetFrame: 2 },
  ];
  for (const p of cases) {
    const got = run(p, p.resetFrame !== undefined);
    assertClose(got, ref({ ...base, ...p }), { atol: 2e-5, rtol: 2e-5 }, JSON.stringify(p));
  }
  const args = { eps: engine.empty([6, 2, 3, 4]), x: engine.empty([3, 2, 3, 4]), out: engine.empty([3, 2, 3, 4]), ...base };
  bad('guidance_step', { ...args, uncondRow: [0, 1], condRow: [3, 4, 5] }, /one entry per frame/);
  bad('guidance_step', { ...args, uncondRow: [0, 1, 6], condRow: [3, 4, 5] }, /frame 2 uses eps rows \(6, 5\)/);
  bad('guidance_step', { ...args, uncondRow: [0, 1, 2], condRow: [3, 4, 5], resetFrame: 1 }, /needs the reset tensor/);
  bad('guidance_step', { ...args, uncondRow: [0, 1, 2], condRow: [3, 4, 5], alphaFrom: 0 }, /must be in \(0, 1\]/);
});

test('ops keep running while setThreads resizes the thread pool', () => {
  // A resize used to let new workers replay the last finished job and, now and then, deadlock the
  // next one (about one resize in a thousand: this catches a regression some of the time); a
  // child process with a time limit turns such a hang into a failure.
  const script = `
    import { Engine, setThreads } from '../dist/index.js';
    const e = new Engine();
    const x = e.tensor(new Float32Array(1 << 16).fill(1), [1 << 16]);
    for (let i = 0; i < 200; i++) {
      setThreads(1 + (i % 3));
      e.opSync('activation', { x, out: x, act: 'silu' });
    }
    console.log('done');`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: new URL('.', import.meta.url),
    encoding: 'utf8',
    timeout: 30000,
  });
  assert.equal(r.signal, null, 'the child hung (killed after 30 s)');
  assert.equal(r.stdout.trim(), 'done', r.stderr);
});

test('the elementwise and norm ops refuse mismatched shapes with messages naming the op', () => {
  const x = engine.empty([2, 4, 4, 6]);
  const g = engine.empty([6]);
  bad('activation', { x, out: engine.empty([2, 4, 4, 5]), act: 'silu' }, /must have the same shape/);
  bad('add', { a: x, b: engine.empty([2, 4, 4, 5]), out: x }, /must have the same shape/);
  bad('scale_frames', { x, out: x, scale: [1] }, /1 scales for the 2 frames/);
  bad('concat_channels', { a: x, b: engine.empty([2, 4, 3, 6]), out: engine.empty([2, 4, 4, 12]) }, /differ outside the channel/);
  bad('concat_channels', { a: x, b: x, out: engine.empty([2, 4, 4, 11]) }, /out must have shape \[2, 4, 4, 12\]/);
  bad('group_norm', { x, gamma: g, beta: g, out: x, groups: 4 }, /groups 4 must divide the 6 channels/);
  bad('group_norm', { x, gamma: engine.empty([5]), beta: g, out: x, groups: 2 }, /gamma must have shape \[6\]/);
  bad('layer_norm', { x, gamma: g, beta: engine.empty([7]), out: x }, /beta must have shape \[6\]/);
  bad('upsample_nearest', { x, out: engine.empty([2, 8, 8, 3]) }, /same frames and channels/);
  bad('timestep_embedding', { t: engine.empty([3]), out: engine.empty([2, 8]) }, /one row per timestep/);
});
