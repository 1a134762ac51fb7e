#!/usr/bin/env node
// One table of a device run: the reference implementation (../shared/gpu-ref/bench_reference.py,
// same card, same run) next to indetail's benchmarks, and the speed targets of issue 17 checked
// against what was measured. Reads the JSON files the device script writes; prints markdown.
//   node bench/side-by-side.mjs --dir OUT [--out FILE.md]
// OUT holds reference_bench.json, unet-gpu.json, e2e-gpu.json, cuda-ops.json, attention.json and,
// optionally, unet-gpu-mma.json (the UNet bench with INDETAIL_SM90=0). Missing files leave their
// columns empty ("-") and their targets "not measured"; nothing here asserts.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const PEAK_TFLOPS = 989.4; // H100 / H200 dense fp16

function readJson(file) {
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : null;
}
const suiteRows = (json, name) => json?.suites?.[name]?.rows ?? [];
const fmt = (v, digits = 2) => (v === undefined || v === null || Number.isNaN(v) ? '-' : Number(v).toFixed(digits));
const ratio = (a, b) => (a > 0 && b > 0 ? a / b : null);
const times = (v) => (v === null ? '-' : `${fmt(v)}x`);
const GiB = 2 ** 30;

export function loadRun(dir) {
  return {
    reference: readJson(path.join(dir, 'reference_bench.json')),
    unet: suiteRows(readJson(path.join(dir, 'unet-gpu.json')), 'unet-gpu'),
    unetMma: suiteRows(readJson(path.join(dir, 'unet-gpu-mma.json')), 'unet-gpu'),
    e2e: suiteRows(readJson(path.join(dir, 'e2e-gpu.json')), 'e2e-gpu'),
    ops: suiteRows(readJson(path.join(dir, 'cuda-ops.json')), 'cuda-ops'),
    opsDevice: readJson(path.join(dir, 'cuda-ops.json'))?.suites?.['cuda-ops']?.device?.name,
    attention: suiteRows(readJson(path.join(dir, 'attention.json')), 'attention'),
  };
}

const unetMs = (rows, batch) => rows.find((r) => r.batch === batch && r.graphs === 'on')?.['ms/step'];
const refUnetMs = (ref, batch) => ref?.unet_forward?.find((r) => r.batch === batch)?.ms_median;
const refGenerate = (ref, n, attention) =>
  ref?.summary_generate?.find((r) => r.task === 'imgvar' && r.num_samples === n && r.attention === attention);
const e2eRow = (rows, n, call) => rows.find((r) => r.samples === n && r.call === call);

function unetTable(run) {
  const lines = [
    '| UNet step, 64x64 latents, fp16 | reference (diffusers) ms | indetail ms | indetail mma.sync ms | speed-up |',
    '|---|---:|---:|---:|---:|',
  ];
  for (const b of [1, 2, 3, 9]) {
    const ref = refUnetMs(run.reference, b), ours = unetMs(run.unet, b);
    lines.push(`| batch ${b} | ${fmt(ref)} | ${fmt(ours)} | ${fmt(unetMs(run.unetMma, b))} | ${times(ratio(ref, ours))} |`);
  }
  // Per generation step the reference runs 2(1+n) frames, indetail 2n+1 (P_neg dropped).
  for (const [n, rb, ob] of [[1, 4, 3], [4, 10, 9]]) {
    const ref = refUnetMs(run.reference, rb), ours = unetMs(run.unet, ob);
    lines.push(`| generation step n=${n} (reference b${rb}, indetail b${ob}) | ${fmt(ref)} | ${fmt(ours)} | ${fmt(unetMs(run.unetMma, ob))} | ${times(ratio(ref, ours))} |`);
  }
  return lines;
}

function e2eTable(run) {
  const lines = [
    '| image variation 512x512, 50+50 steps | reference code s | plain diffusers s | indetail first call s | indetail cached s | speed-up first / cached | peak GiB reference / indetail |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const n of [1, 4]) {
    const ref = refGenerate(run.reference, n, 'devil'), plain = refGenerate(run.reference, n, 'plain');
    const first = e2eRow(run.e2e, n, 'first call'), cached = e2eRow(run.e2e, n, 'cached prompt');
    const ours = first ? first['peak GiB'] + first['weights GiB'] : null;
    lines.push(
      `| n = ${n} | ${fmt(ref?.wall_s)} | ${fmt(plain?.wall_s)} | ${fmt(first?.['total s'])} | ${fmt(cached?.['total s'])} | ` +
        `${times(ratio(ref?.wall_s, first?.['total s']))} / ${times(ratio(ref?.wall_s, cached?.['total s']))} | ` +
        `${fmt(ref?.peak_mem_allocated ? ref.peak_mem_allocated / GiB : null)} / ${fmt(ours)} |`,
    );
  }
  return lines;
}

// One target: measured value, the bound, and whether it is met (null: not measured).
function target(name, value, bound, { atMost = false, unit = '' } = {}) {
  if (value === undefined || value === null || Number.isNaN(value)) return { name, status: 'not measured' };
  const met = atMost ? value <= bound : value >= bound;
  const miss = atMost ? value / bound - 1 : 1 - value / bound;
  return {
    name,
    status: met ? 'met' : `MISSED by ${(100 * miss).toFixed(0)}%`,
    measured: `${fmt(value)}${unit}`,
    bound: `${atMost ? '<=' : '>='} ${bound}${unit}`,
  };
}

export function targets(run) {
  const out = [];
  // Compute-bound SD layers at batch >= 2: at least 5 GFLOP per call.
  const heavy = run.ops.filter((o) => o.dtype === 'f16' && o['%peak'] !== null && o['TFLOP/s'] * o.us * 1e6 >= 5e9);
  for (const r of heavy) out.push(target(`GEMM/conv ${r.case}`, r['%peak'], 55, { unit: '% of peak' }));
  if (!heavy.length) out.push(target('GEMM/conv at SD shapes, batch 2', null, 55));
  for (const [hd, bound] of [[64, 40], [40, 30]]) {
    const fused = run.attention.filter((a) => a.backend === 'cuda' && a.impl === 'fused' && a.shape.endsWith(`x${hd}`));
    const best = fused.length ? Math.max(...fused.map((a) => a['% peak'])) : null;
    out.push(target(`attention head dim ${hd} (best fused case)`, best, bound, { unit: '% of peak' }));
  }
  const fusedConv = run.ops.find((o) => /group_norm.*conv|conv.*group_norm/.test(o.case));
  const plainConv = run.ops.find((o) => o.case.startsWith('conv2d 3x3 320->320 64x64 b2'));
  out.push(target('GroupNorm-fused conv / plain conv', ratio(fusedConv?.us, plainConv?.us), 1.1, { atMost: true, unit: 'x' }));
  out.push(target('UNet step batch 2', unetMs(run.unet, 2), 8, { atMost: true, unit: ' ms' }));
  out.push(target('UNet step batch 9', unetMs(run.unet, 9), 22, { atMost: true, unit: ' ms' }));
  for (const [n, bound] of [[1, 0.9], [4, 1.6]]) {
    const first = e2eRow(run.e2e, n, 'first call');
    out.push(target(`image variation n=${n} (first call)`, first?.['total s'], bound, { atMost: true, unit: ' s' }));
    const ref = refGenerate(run.reference, n, 'devil');
    out.push(target(`n=${n}: speed-up vs the reference code`, ratio(ref?.wall_s, first?.['total s']), 3, { unit: 'x' }));
    const ours = first ? (first['peak GiB'] + first['weights GiB']) * GiB : null;
    out.push(target(`n=${n}: memory / the reference's`, ratio(ours, ref?.peak_mem_allocated), 1, { atMost: true, unit: 'x' }));
  }
  return out;
}

export function report(run) {
  const card = run.reference?.env?.device_name ?? run.opsDevice ?? 'unknown card';
  const lines = [`## indetail vs the reference implementation on ${card} (same run)`, '', ...unetTable(run), '', ...e2eTable(run), ''];
  lines.push('| target (issue 17) | measured | bound | status |', '|---|---:|---:|---|');
  for (const t of targets(run)) lines.push(`| ${t.name} | ${t.measured ?? '-'} | ${t.bound ?? '-'} | ${t.status} |`);
  lines.push('', `Peak: ${PEAK_TFLOPS} TFLOP/s dense fp16. Reference: InDetail-IP on diffusers 0.26.2 (bench_reference.py); ` +
    'indetail: bench/suites unet-gpu (CUDA graphs on), e2e-gpu, cuda-ops, attention.');
  return lines.join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const valueOf = (flag) => (args.includes(flag) ? args[args.indexOf(flag) + 1] : undefined);
  const dir = valueOf('--dir');
  if (!dir) {
    console.error('usage: node bench/side-by-side.mjs --dir OUT [--out FILE.md]');
    process.exit(1);
  }
  const text = report(loadRun(dir));
  console.log(text);
  if (valueOf('--out')) writeFileSync(valueOf('--out'), `${text}\n`);
}
