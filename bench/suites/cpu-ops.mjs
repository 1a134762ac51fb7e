// CPU backend ops at Stable Diffusion 1.5 shapes: GFLOP/s of the big convolutions, a linear layer
// and self-attention (plain, KV-concat and stratified), in f32 and (where the CPU has
// AVX512-BF16) bf16, against the machine's fp32 FMA peak and bf16 dot-product peak.
//
// The peak is measured natively (engine/cpu/peak.h via cpuPeak): an FMA loop with independent
// accumulators on every thread, and the clock from a dependent integer-add chain (one add per
// cycle); the theoretical peak is cores × GHz × FMA units × lanes × 2. On a shared machine every
// wall-clock number is the best of several runs; each op also runs on one thread (against one
// core's peak) and its efficiency per core is given from CPU time, which time slicing does not
// distort.
import { Engine, buildInfo, setThreads } from '../../dist/index.js';
import { addon } from '../../dist/native/addon.js';
import { lcgNoise } from '../lib/random.mjs';

export const name = 'cpu-ops';
export const description = 'CPU ops at SD1.5 shapes, f32 and bf16 (GFLOP/s, best of N) vs the measured fp32 FMA and bf16 dot-product peaks';

function randomTensor(engine, shape, seed) {
  return engine.tensor(lcgNoise(shape.reduce((a, b) => a * b, 1), seed), shape);
}

function convCase(engine, label, n, h, w, cin, cout) {
  const x = randomTensor(engine, [n, h, w, cin], 1);
  const host = randomTensor(engine, [cout, 3, 3, cin], 2);
  const wt = engine.prepareWeight(host, 'conv');
  host.dispose();
  const bias = randomTensor(engine, [cout], 3);
  const out = engine.empty([n, h, w, cout]);
  return {
    label,
    shape: `[${n},${h},${w},${cin}] -> ${cout}`,
    flops: 2 * n * h * w * cout * 9 * cin,
    op: 'conv2d',
    args: { x, w: wt, bias, out, pad: 1 },
  };
}

function linearCase(engine, label, m, k, n) {
  const x = randomTensor(engine, [1, m, k], 4);
  const host = randomTensor(engine, [n, k], 5);
  const wt = engine.prepareWeight(host, 'linear');
  host.dispose();
  const bias = randomTensor(engine, [n], 6);
  return { label, shape: `${m}x${k} -> ${n}`, flops: 2 * m * k * n, op: 'linear', args: { x, w: wt, bias, out: engine.empty([1, m, n]) } };
}

function attentionCase(engine, label, { tokens, heads, d, mode = 'none', cache = false }) {
  const c = heads * d;
  const q = randomTensor(engine, [1, tokens, c], 7);
  const k = randomTensor(engine, [1, tokens, c], 8);
  const v = randomTensor(engine, [1, tokens, c], 9);
  const args = { q, k, v, out: engine.empty([1, tokens, c]), heads, mode };
  let keys = tokens;
  if (cache) {
    args.kRef = randomTensor(engine, [1, tokens, c], 10);
    args.vRef = randomTensor(engine, [1, tokens, c], 11);
    args.ref = [0];
    keys = 2 * tokens;
  }
  return {
    label,
    shape: `${tokens} q x ${keys} k, ${heads}x${d}`,
    flops: 4 * tokens * keys * d * heads,
    op: 'attention',
    args,
  };
}

// Best-of-N wall time, and process CPU seconds per call (measured after a warm-up call, so
// that first-touch page faults of the outputs are not counted).
async function measure(engine, c, iterations) {
  await engine.timeOp(c.op, c.args, { warmup: 0, iterations: 1 });
  const cpu0 = process.cpuUsage();
  const t = await engine.timeOp(c.op, c.args, { warmup: 0, iterations });
  const cpu = process.cpuUsage(cpu0);
  return { best: t.min, median: t.seconds, cpuPerCall: ((cpu.user + cpu.system) * 1e-6) / iterations };
}

// Peaks of one precision: the whole machine and one core, per second of wall / CPU time.
function peaks(peak) {
  const units = Math.round(peak.fmaPerCycle);
  const perCore = { f32: peak.ghz * units * peak.lanes * 2 };
  if (peak.bf16) perCore.bf16 = peak.ghz * Math.round(peak.bf16.dpPerCycle) * 16 * 4;
  const perCpuSecond = { f32: peak.gflopsPerCpuSecond, ...(peak.bf16 ? { bf16: peak.bf16.gflopsPerCpuSecond } : {}) };
  return { units, perCore, perCpuSecond, machine: Object.fromEntries(Object.entries(perCore).map(([k, v]) => [k, v * peak.threads])) };
}

function row(c, precision, all, one, pk) {
  const gflops = c.flops / all.best / 1e9;
  const gflops1 = c.flops / one.best / 1e9;
  const pct = (x, of) => (of ? (100 * x) / of : undefined);
  return {
    case: c.label,
    precision,
    shape: c.shape,
    'ms (best)': all.best * 1e3,
    'ms (median)': all.median * 1e3,
    'GFLOP/s': gflops,
    '% f32 peak': pct(gflops, pk.machine.f32),
    '% bf16 peak': pct(gflops, pk.machine.bf16),
    '1-thread GFLOP/s': gflops1,
    '% core peak': pct(gflops1, pk.perCore[precision]),
    '% core (CPU time)': pct(c.flops / all.cpuPerCall / 1e9, pk.perCpuSecond[precision]),
  };
}

export async function run({ quick = false } = {}) {
  const info = buildInfo();
  const threads = info.threads;
  const peak = await addon().cpuPeak(0.02);
  const pk = peaks(peak);
  // bf16 only where the CPU multiplies bf16 natively (elsewhere it is fp32 on rounded operands)
  const precisions = peak.bf16 ? ['f32', 'bf16'] : ['f32'];
  const iterations = quick ? 3 : 8;
  const rows = [];
  for (const precision of precisions) {
    const engine = new Engine({ backend: 'cpu', precision });
    const cases = [
      convCase(engine, 'conv3x3 320->320 64x64 b1', 1, 64, 64, 320, 320),
      convCase(engine, 'conv3x3 320->320 64x64 b2', 2, 64, 64, 320, 320),
      convCase(engine, 'conv3x3 1280->1280 8x8 b2', 2, 8, 8, 1280, 1280),
      convCase(engine, 'conv3x3 128->128 256x256 (VAE)', 1, 256, 256, 128, 128),
      linearCase(engine, 'linear 4096x320 -> 2560', 4096, 320, 2560),
      attentionCase(engine, 'self-attn 4096 keys', { tokens: 4096, heads: 8, d: 40 }),
      attentionCase(engine, 'kv-concat 8192 keys', { tokens: 4096, heads: 8, d: 40, mode: 'concat', cache: true }),
      attentionCase(engine, 'stratified 2x4096 keys', { tokens: 4096, heads: 8, d: 40, mode: 'stratified', cache: true }),
    ];
    for (const c of cases) {
      setThreads(threads);
      const all = await measure(engine, c, iterations);
      setThreads(1);
      const one = await measure(engine, c, quick ? 2 : 4);
      rows.push(row(c, precision, all, one, pk));
    }
    setThreads(threads);
    engine.dispose();
  }
  const loopRow = (label, precision, p) => ({
    case: label,
    precision,
    shape: `${peak.threads} threads`,
    'GFLOP/s': p.gflopsAllThreads,
    '% f32 peak': (100 * p.gflopsAllThreads) / pk.machine.f32,
    '% bf16 peak': pk.machine.bf16 ? (100 * p.gflopsAllThreads) / pk.machine.bf16 : undefined,
    '1-thread GFLOP/s': p.gflopsOneThread,
    '% core peak': (100 * p.gflopsOneThread) / pk.perCore[precision],
    '% core (CPU time)': 100,
  });
  rows.push(loopRow('FMA loop (measured)', 'f32', peak));
  if (peak.bf16) rows.push(loopRow('vdpbf16ps loop (measured)', 'bf16', peak.bf16));
  const notes = [
    `kernels: ${info.cpuFeatures}, ${threads} threads (1-thread columns: setThreads(1))`,
    `f32 peak = ${peak.threads} cores x ${peak.ghz.toFixed(2)} GHz x ${pk.units} FMA units x ${peak.lanes} lanes x 2 = ${pk.machine.f32.toFixed(1)} GFLOP/s; ` +
      `one core ${pk.perCore.f32.toFixed(1)} GFLOP/s. GHz: a dependent integer-add chain per second of thread CPU time; ` +
      `FMA units: ${peak.fmaPerCycle.toFixed(2)} vector FMAs per cycle measured by an assembly loop of 24 independent ` +
      `vfmadd231ps (${peak.gflopsPerCpuSecond.toFixed(1)} GFLOP/s per CPU second; ${peak.gflopsPerCpuSecondAllThreads.toFixed(1)} ` +
      'per CPU second of each thread when all run: the cores do not share FMA units)',
    peak.bf16
      ? `bf16 peak = ${peak.threads} cores x ${peak.ghz.toFixed(2)} GHz x ${Math.round(peak.bf16.dpPerCycle)} vdpbf16ps per cycle (measured ${peak.bf16.dpPerCycle.toFixed(2)}) x 16 lanes x 2 products x 2 = ` +
        `${pk.machine.bf16.toFixed(1)} GFLOP/s (${peak.bf16.gflopsPerCpuSecond.toFixed(1)} per CPU second); bf16 rows: bf16 weights and operands, fp32 accumulation`
      : 'no AVX512-BF16 at this INDETAIL_CPU_LEVEL: bf16 rows and peak skipped',
    '% core peak and % core (CPU time) are against the peak of the row\'s precision',
    'attention FLOPs = 4 x queries x keys x head_dim x heads (QK^T and PV); softmax not counted',
    'wall times are the best of the iterations (the machine may be shared: then the all-thread wall numbers show the ' +
      'share of the machine we got). % core (CPU time) = FLOPs per second of process CPU time / the loop per ' +
      'second of thread CPU time: the kernels\' efficiency per core, unaffected by time slicing (idle waits are not counted)',
  ];
  return {
    rows,
    columns: ['case', 'precision', 'shape', 'ms (best)', 'ms (median)', 'GFLOP/s', '% f32 peak', '% bf16 peak', '1-thread GFLOP/s', '% core peak', '% core (CPU time)'],
    peak: { ...peak, fmaUnits: pk.units, theoreticalGflops: pk.machine.f32, perCoreGflops: pk.perCore.f32, theoreticalGflopsBf16: pk.machine.bf16, perCoreGflopsBf16: pk.perCore.bf16 },
    notes,
  };
}
