// Attention variants of the method, naive (the reference implementation's way: concatenated /
// gathered K and V and the score matrix materialised) against fused (the attention op: one
// online-softmax kernel reading the reference frame's K/V by index), on every backend found.
//
// Shapes: the self-attention layers of the SD1.5 decoder at 512x512 (4096 x 8 heads x 40,
// 1024 x 8 x 80, 256 x 8 x 160), queries attending to as many own keys; batch layouts of the
// conflict-free guidance batch [P_pos, G_neg x n, G_pos x n] for n = 1 and 4, where the n positive
// frames take P_pos as their reference. Variants: original self-attention (no reference), KV
// replacement, KV concatenation, stratified attention (lambda 1, 1).
// Metrics: median time, useful TFLOP/s (4 * Lq * keys * head_dim per head and frame, head dim 40
// counted as 40; a frame without a reference counts its own keys once), % of peak, extra memory,
// fused speed-up over naive, and the largest difference between the two outputs.
//
//   node bench/run.mjs attention [--quick]      or      indetail bench attention [--out chart.svg]
// `shapes` and `ns` (run options) replace the SD1.5 shapes and the batch layouts: `indetail bench
// attention --quality` measures the decoder shapes of the model it evaluates.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Engine, backends as availableBackends, buildInfo, devices } from '../../dist/index.js';
import { addon } from '../../dist/native/addon.js';
import { maxAbsError } from '../lib/compare.mjs';
import { groupedBarChart } from '../lib/svg-chart.mjs';

export const name = 'attention';
export const description = 'fused vs naive self / replace / concat / stratified attention at SD1.5 decoder shapes';
export const explicitOnly = true; // minutes of CPU work at full size: run it by name

const SHAPES = [
  { Lq: 4096, heads: 8, D: 40 },
  { Lq: 1024, heads: 8, D: 80 },
  { Lq: 256, heads: 8, D: 160 },
];
const VARIANTS = [
  { key: 'self', label: 'self-attention', mode: 'none', color: '#4c78a8' },
  { key: 'replace', label: 'KV replacement', mode: 'replace', color: '#f58518' },
  { key: 'concat', label: 'KV concatenation', mode: 'concat', color: '#54a24b' },
  { key: 'stratified', label: 'stratified', mode: 'stratified', color: '#e45756' },
];

export const columns = [
  'backend', 'shape', 'n', 'keys', 'variant', 'impl', 'ms', 'TFLOP/s', '% peak', 'extra MB', 'vs naive', 'max |diff|', 'kernel',
];

function uniform(seed, n) {
  // variance-1 uniform values from xorshift32: cheap enough for 35 M inputs
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = (s / 4294967296 - 0.5) * 3.4641;
  }
  return out;
}

function gpuPeak(override) {
  if (override) return { tflops: override, how: `given (${override} TFLOP/s)` };
  const d = devices()[0];
  if (!d) return { tflops: null, how: 'no device' };
  if (/H100|H200/i.test(d.name)) {
    const pcie = /PCIe/i.test(d.name);
    const t = pcie ? 756 : 989;
    return { tflops: t, how: `${d.name}: dense fp16 tensor peak ${t} TFLOP/s` };
  }
  return { tflops: null, how: `${d.name}: unknown peak (pass --peak-tflops)` };
}

function cpuPeak(overrideGflops) {
  if (overrideGflops) return { tflops: overrideGflops / 1000, how: `given (${overrideGflops} GFLOP/s fp32)` };
  const info = buildInfo();
  const mhz = os.cpus()[0]?.speed ?? 0;
  const perCycle = /avx512/.test(info.cpuFeatures) ? 64 : /avx2/.test(info.cpuFeatures) ? 32 : 8;
  if (!mhz) return { tflops: null, how: 'unknown (clock not reported; pass --cpu-peak-gflops)' };
  const gflops = info.threads * (mhz / 1000) * perCycle;
  return {
    tflops: gflops / 1000,
    how: `estimated fp32 peak ${gflops.toFixed(0)} GFLOP/s = ${info.threads} threads x ${(mhz / 1000).toFixed(2)} GHz x ${perCycle} FLOP/cycle (${info.cpuFeatures})`,
  };
}

// warm-up call, then as many timed iterations as fit in ~budget seconds
async function timed(fn, { budget, maxIterations }) {
  const first = await fn({ warmup: 0, iterations: 1 });
  const iterations = Math.max(1, Math.min(maxIterations, Math.floor(budget / Math.max(first.seconds, 1e-6))));
  if (iterations === 1 && first.seconds > budget / 2) return first;
  return fn({ warmup: 1, iterations });
}

function nativeArgs(args) {
  const a = {};
  for (const [k, v] of Object.entries(args)) a[k] = v && typeof v === 'object' && 'native' in v ? v.native : v;
  return a;
}

export async function run({
  quick = false,
  shapes = SHAPES,
  ns = null,
  svgPath = path.resolve('bench/out/attention.svg'),
  backends = null,
  peakTflops = null,
  cpuPeakGflops = null,
  log = () => {},
} = {}) {
  const found = availableBackends();
  const wanted = backends ?? ['cpu', 'cuda'];
  const rows = [];
  const notes = [];
  const peaks = {};
  for (const backend of wanted) {
    if (!found.includes(backend)) {
      notes.push(`${backend}: skipped (${backend === 'cuda' ? buildInfo().cudaUnavailableReason || 'not available' : 'not available'})`);
      continue;
    }
    const isCpu = backend === 'cpu';
    peaks[backend] = isCpu ? cpuPeak(cpuPeakGflops) : gpuPeak(peakTflops);
    notes.push(`${backend} peak: ${peaks[backend].how}`);
    const budget = isCpu ? 3 : 0.5;
    const maxIterations = isCpu ? 5 : 50;
    for (const shape of shapes) {
      for (const n of ns ?? (quick ? [1] : [1, 4])) {
        if (isCpu && quick && shape.Lq === 4096) continue;
        const { Lq, heads, D } = shape;
        const C = heads * D;
        const frames = 2 * n + 1;
        const ref = [-1, ...Array(n).fill(-1), ...Array(n).fill(0)];
        const label = `${Lq}x${heads}x${D}`;
        log(`${backend} ${label} n=${n}`);
        // a fresh engine per layout: its allocator's peak then measures what the fused op allocates
        const engine = new Engine({ backend });
        try {
          const size = frames * Lq * C;
          const q = engine.tensor(uniform(1, size), [frames, Lq, C]);
          const k = engine.tensor(uniform(2, size), [frames, Lq, C]);
          const v = engine.tensor(uniform(3, size), [frames, Lq, C]);
          const outFused = engine.empty([frames, Lq, C]);
          const outNaive = engine.empty([frames, Lq, C]);
          for (const variant of VARIANTS) {
            const withRef = variant.mode !== 'none';
            const keysPerFrame = ref.map((r) => (withRef && r >= 0 && variant.mode !== 'replace' ? 2 * Lq : Lq));
            const flops = 4 * Lq * D * heads * keysPerFrame.reduce((a, b) => a + b, 0);
            const base = { backend, shape: label, n, keys: Math.max(...keysPerFrame), variant: variant.key };
            const args = { q, k, v, heads, mode: variant.mode, ...(withRef ? { ref } : {}) };
            const row = (impl, r, extraBytes, kernel) => {
              const tflops = flops / r.seconds / 1e12;
              const peak = peaks[backend].tflops;
              return {
                ...base,
                impl,
                ms: r.seconds * 1e3,
                'TFLOP/s': tflops,
                '% peak': peak ? (100 * tflops) / peak : null,
                'extra MB': extraBytes === null ? null : extraBytes / 2 ** 20,
                kernel,
              };
            };
            let naive = null;
            try {
              const r = await timed((o) => addon().naiveAttention(engine.native, nativeArgs({ ...args, out: outNaive }), o), {
                budget,
                maxIterations,
              });
              naive = row('naive', r, r.extraBytes, isCpu ? 'materialised (per frame and head)' : 'materialised');
              rows.push(naive);
            } catch (e) {
              rows.push({ ...base, impl: 'naive', kernel: `failed: ${e.message}` });
            }
            const kernels = isCpu ? ['auto'] : D <= 64 ? ['auto', 'flash:1'] : ['auto'];
            for (const kernel of kernels) {
              try {
                const before = engine.memoryStats();
                const r = await timed(
                  (o) => addon().timeAttention(engine.native, nativeArgs({ ...args, out: outFused }), { kernel, ...o }),
                  { budget, maxIterations },
                );
                const after = engine.memoryStats();
                const extra = r.extraBytes ?? Math.max(0, after.peak - Math.max(before.peak, before.inUse));
                const fused = row(kernel === 'auto' ? 'fused' : `fused ${kernel}`, r, extra, r.kernel);
                if (naive?.ms) fused['vs naive'] = naive.ms / fused.ms;
                if (naive?.ms) fused['max |diff|'] = maxAbsError(await outFused.readFloat32(), await outNaive.readFloat32());
                rows.push(fused);
              } catch (e) {
                rows.push({ ...base, impl: kernel === 'auto' ? 'fused' : `fused ${kernel}`, kernel: `failed: ${e.message}` });
              }
            }
          }
        } finally {
          engine.dispose();
        }
      }
    }
  }

  // targets (read, never asserted)
  const find = (b, shape, n, variant, impl) =>
    rows.find((r) => r.backend === b && r.shape === shape && r.n === n && r.variant === variant && r.impl === impl && r.ms);
  for (const backend of Object.keys(peaks)) {
    for (const shape of shapes.map((s) => `${s.Lq}x${s.heads}x${s.D}`)) {
      for (const n of ns ?? [1, 4]) {
        const st = find(backend, shape, n, 'stratified', 'fused');
        const cc = find(backend, shape, n, 'concat', 'fused');
        const self = find(backend, shape, n, 'self', 'fused');
        if (st && cc) {
          const speedups = VARIANTS.map((v) => find(backend, shape, n, v.key, 'fused')?.['vs naive'])
            .filter((x) => x)
            .map((x) => x.toFixed(1));
          notes.push(
            `${backend} ${shape} n=${n}: stratified / concat time ${(st.ms / cc.ms).toFixed(3)}` +
              (self?.['% peak'] ? `, self-attention ${self['% peak'].toFixed(0)}% of peak` : '') +
              (speedups.length ? `, fused vs naive ${speedups.join(' / ')}x (self/replace/concat/stratified)` : ''),
          );
        }
      }
    }
  }

  const series = [];
  for (const v of VARIANTS) {
    series.push({ key: `${v.key}/naive`, label: `${v.label} (naive)`, color: v.color, hollow: true });
    series.push({ key: `${v.key}/fused`, label: `${v.label} (fused)`, color: v.color });
  }
  const panels = Object.keys(peaks).map((backend) => {
    const groups = [];
    for (const r of rows.filter((x) => x.backend === backend && (x.impl === 'naive' || x.impl === 'fused') && x.ms)) {
      const label = `${r.shape} n=${r.n}`;
      let g = groups.find((x) => x.label === label);
      if (!g) groups.push((g = { label, values: {} }));
      g.values[`${r.variant}/${r.impl}`] = r['TFLOP/s'];
    }
    return { title: `${backend} — useful TFLOP/s (${peaks[backend].how})`, groups };
  });
  if (panels.length) {
    const svg = groupedBarChart({
      title: 'Attention variants: naive (outline) vs fused (solid), conflict-free guidance batch [P, G_neg x n, G_pos x n]',
      yLabel: 'useful TFLOP/s',
      series,
      panels,
    });
    mkdirSync(path.dirname(svgPath), { recursive: true });
    writeFileSync(svgPath, svg);
    notes.push(`chart written to ${svgPath}`);
  }
  notes.push('naive: K/V gathered or concatenated into new tensors and the score matrix materialised (CUDA: [frames, heads, Lq, keys] in the storage type; CPU: per frame and head, F32)');
  notes.push('fused extra memory: CUDA = device scratch of the kernel (0: shared-memory tiles only); CPU = growth of the engine allocator\'s peak');
  return { rows, columns, notes, svg: panels.length ? svgPath : null, peaks };
}
