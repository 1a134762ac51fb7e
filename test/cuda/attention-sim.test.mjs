// The attention kernels' device code on the CPU emulator (cuda/kernels/attention_sim.{h,cpp}):
// compiled with the host C++ compiler and the CUDA headers, run against a float64 reference.
// For machines without a GPU; opt-in because it compiles for ~15 s and runs for a few CPU minutes:
//   INDETAIL_ATTENTION_SIM=1 node --test test/cuda/attention-sim.test.mjs
// INDETAIL_ATTENTION_SIM=<text> runs only the emulator cases whose name contains <text>.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../helpers/fixtures.mjs';

const wanted = process.env.INDETAIL_ATTENTION_SIM;
const cudaInclude = [process.env.CUDA_PATH, '/usr/local/cuda'].filter(Boolean).map((p) => path.join(p, 'include'));
const include = cudaInclude.find((p) => existsSync(path.join(p, 'cuda_fp16.h')));
const skip = !wanted
  ? 'set INDETAIL_ATTENTION_SIM=1 to run the device-code emulator'
  : !include
    ? 'no CUDA headers (cuda_fp16.h) under CUDA_PATH or /usr/local/cuda'
    : null;
if (skip) console.log(`skipped: ${skip}`);

test('attention device code on the CPU emulator', { skip: skip ?? false, timeout: 30 * 60 * 1000 }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'indetail-attn-sim-'));
  try {
    const exe = path.join(dir, 'attention_sim');
    const cxx = process.env.CXX ?? 'g++';
    const src = path.join(repoRoot, 'cuda', 'kernels', 'attention_sim.cpp');
    const build = spawnSync(cxx, ['-std=c++20', '-O2', `-I${include}`, `-I${path.dirname(src)}`, '-w', src, '-o', exe], {
      encoding: 'utf8',
    });
    assert.equal(build.status, 0, `compiling the emulator failed:\n${build.stderr}`);
    const run = spawnSync(exe, wanted === '1' ? [] : [wanted], { encoding: 'utf8', maxBuffer: 16 << 20 });
    const lines = run.stdout.trim().split('\n');
    for (const l of lines) console.log(`# ${l}`);
    assert.equal(run.status, 0, `emulated runs failed:\n${lines.filter((l) => l.startsWith('FAIL')).join('\n')}\n${run.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
