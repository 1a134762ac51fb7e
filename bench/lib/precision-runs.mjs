// CPU benchmarks per precision, each precision in its own process (so that its peak RSS is its
// own): which precisions to run and the child-process call.
import { spawnSync } from 'node:child_process';
import { cpuHasBf16 } from '../../dist/index.js';

/** INDETAIL_BENCH_PRECISION (comma list, default 'f32,bf16'); bf16 only where the CPU multiplies bf16 natively (AVX512-BF16 or AMX). */
export function benchPrecisions() {
  return (process.env.INDETAIL_BENCH_PRECISION ?? 'f32,bf16').split(',').filter((p) => p !== 'bf16' || cpuHasBf16());
}

/** Runs `node script --case ...args` and returns the JSON of the last line it prints; `label` names it in errors. */
export function runCaseInChild(script, args, label) {
  const p = spawnSync(process.execPath, [script, '--case', ...args.map(String)], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (p.status !== 0) throw new Error(`${label}: child failed (${p.status}): ${p.stderr}`);
  return JSON.parse(p.stdout.trim().split('\n').pop());
}

export const PRECISION_NOTE = 'each precision runs in its own process (peak RSS is its own); bf16 only where the CPU has AVX512-BF16 or AMX (INDETAIL_BENCH_PRECISION=f32,bf16 selects)';
