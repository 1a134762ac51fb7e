// The attention benchmark's naive paths (materialised K/V and scores; binding/attention_bench.cc)
// against a float64 JavaScript implementation of AttentionParams semantics (DESIGN.md §1): on the
// CPU always, on CUDA where there is a device. Checks that the benchmark compares like with like.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Engine } from '../../dist/index.js';
import { addon } from '../../dist/native/addon.js';
import { cudaSkipReason } from '../helpers/backends.mjs';
import { mulberry32 } from '../helpers/random.mjs';

const skip = cudaSkipReason();

function gaussian(seed, n, sd = 1) {
  const next = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(next() + 1e-12)) * Math.cos(2 * Math.PI * next()) * sd;
  return out;
}

// float64 attention of one query row over a list of [matrix, frame, rows] key segments
function softmaxAttend(q, segs, D, scale) {
  const s = [];
  const vs = [];
  for (const { k, v, frame, len, width, kCol, vCol } of segs) {
    for (let j = 0; j < len; j++) {
      const kb = (frame * len + j) * width + kCol;
      let d = 0;
      for (let x = 0; x < D; x++) d += q[x] * k[kb + x];
      s.push(d * scale);
      vs.push((frame * len + j) * width + vCol);
    }
  }
  const mx = Math.max(...s);
  let sum = 0;
  const p = s.map((x) => {
    const e = Math.exp(x - mx);
    sum += e;
    return e;
  });
  const o = new Float64Array(D);
  let j = 0;
  for (const seg of segs) {
    for (let r = 0; r < seg.len; r++, j++) for (let x = 0; x < D; x++) o[x] += (p[j] / sum) * seg.v[vs[j] + x];
  }
  return o;
}

function reference(c, t) {
  const { frames: B, heads: H, D, Lq, Lk } = c;
  const C = H * D;
  const W = t.width;
  const out = new Float64Array(B * Lq * C);
  const scale = 1 / Math.sqrt(D);
  for (let b = 0; b < B; b++) {
    const r = c.mode === 'none' || !c.ref ? -1 : c.ref[b];
    for (let h = 0; h < H; h++) {
      const own = { k: t.k, v: t.v, frame: b, len: Lk, width: W, kCol: c.kCol + h * D, vCol: c.vCol + h * D };
      const src =
        r < 0
          ? own
          : t.kRef
            ? { k: t.kRef, v: t.vRef, frame: r, len: c.Lr, width: W, kCol: c.kCol + h * D, vCol: c.vCol + h * D }
            : { ...own, frame: r };
      for (let i = 0; i < Lq; i++) {
        const qb = (b * Lq + i) * W + c.qCol + h * D;
        const q = t.q.subarray(qb, qb + D);
        let o;
        if (r < 0) o = softmaxAttend(q, [own], D, scale);
        else if (c.mode === 'replace') o = softmaxAttend(q, [src], D, scale);
        else if (c.mode === 'concat') o = softmaxAttend(q, [src, own], D, scale);
        else {
          const a = softmaxAttend(q, [src], D, scale);
          const s = softmaxAttend(q, [own], D, scale);
          const lr = c.lambdaRef ?? 1;
          const ls = c.lambdaSelf ?? 1;
          o = a.map((x, n) => (lr * x + ls * s[n]) / (lr + ls));
        }
        out.set(o, (b * Lq + i) * C + h * D);
      }
    }
  }
  return out;
}

// All frames' q, k, v in one wide tensor per role (column windows exercise qCol/kCol/vCol).
const cases = [
  { name: 'plain', frames: 2, heads: 2, D: 8, Lq: 20, Lk: 20, mode: 'none' },
  { name: 'concat conflict-free', frames: 5, heads: 2, D: 8, Lq: 12, Lk: 12, mode: 'concat', ref: [-1, -1, -1, 0, 0] },
  { name: 'stratified conflicting', frames: 6, heads: 2, D: 16, Lq: 10, Lk: 10, mode: 'stratified', ref: [-1, 0, 0, -1, 3, 3], lambdaRef: 0.6, lambdaSelf: 1.4 },
  { name: 'replace', frames: 3, heads: 1, D: 8, Lq: 9, Lk: 9, mode: 'replace', ref: [-1, 0, 0] },
  { name: 'concat with a cache', frames: 3, heads: 2, D: 8, Lq: 11, Lk: 11, mode: 'concat', ref: [0, -1, 1], cache: { R: 2, Lr: 7 } },
  { name: 'stratified with a cache', frames: 2, heads: 2, D: 8, Lq: 11, Lk: 11, mode: 'stratified', ref: [0, 0], cache: { R: 1, Lr: 13 } },
];

function build(engine, c, dtype) {
  const C = c.heads * c.D;
  const width = C + 16;
  const win = { qCol: 16, kCol: 8, vCol: 0 };
  const host = {
    width,
    q: gaussian(1, c.frames * c.Lq * width),
    k: gaussian(2, c.frames * c.Lk * width, 1.3),
    v: gaussian(3, c.frames * c.Lk * width),
  };
  if (c.cache) {
    host.kRef = gaussian(4, c.cache.R * c.cache.Lr * width, 1.3);
    host.vRef = gaussian(5, c.cache.R * c.cache.Lr * width);
  }
  const args = {
    heads: c.heads,
    mode: c.mode,
    ...win,
    q: engine.tensor(host.q, [c.frames, c.Lq, width], dtype).native,
    k: engine.tensor(host.k, [c.frames, c.Lk, width], dtype).native,
    v: engine.tensor(host.v, [c.frames, c.Lk, width], dtype).native,
    out: engine.empty([c.frames, c.Lq, C]).native,
  };
  if (c.ref) args.ref = c.ref;
  if (c.lambdaRef) Object.assign(args, { lambdaRef: c.lambdaRef, lambdaSelf: c.lambdaSelf });
  if (c.cache) {
    args.kRef = engine.tensor(host.kRef, [c.cache.R, c.cache.Lr, width], dtype).native;
    args.vRef = engine.tensor(host.vRef, [c.cache.R, c.cache.Lr, width], dtype).native;
  }
  const spec = { ...c, ...win, Lr: c.cache?.Lr };
  return { host, args, spec };
}

for (const backend of ['cpu', 'cuda']) {
  for (const c of cases) {
    const s = backend === 'cuda' ? skip : null;
    test(`naive attention (${backend}): ${c.name}`, { skip: s ?? false }, async () => {
      const engine = new Engine({ backend });
      try {
        const { host, args, spec } = build(engine, c);
        const r = await addon().naiveAttention(engine.native, args, { warmup: 0, iterations: 1 });
        assert.ok(r.seconds > 0 && r.extraBytes > 0, `timing and extra bytes reported: ${JSON.stringify(r)}`);
        const got = await args.out.read();
        // the CUDA path reads the fp16-rounded inputs: compare with them
        if (backend === 'cuda') for (const key of ['q', 'k', 'v', 'kRef', 'vRef']) if (args[key]) host[key] = await args[key].read();
        const want = reference(spec, host);
        let err = 0;
        for (let i = 0; i < want.length; i++) err = Math.max(err, Math.abs(got[i] - want[i]));
        assert.ok(err <= (backend === 'cpu' ? 1e-5 : 2e-2), `max |naive - float64 reference| = ${err}`);
      } finally {
        engine.dispose();
      }
    });
  }
}
