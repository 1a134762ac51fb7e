// The CUDA kernels under the host emulator (cuda/emulator): index logic, tiling, cp.async and TMA
// pipelining, mma and wgmma fragments, mbarriers, the attention kernels and batch invariance,
// checked against double-precision references on a machine without a GPU. Needs g++, python3 and the CUDA
// headers; skips with the reason when one is missing.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cudaInclude = path.join(process.env.CUDA_HOME ?? '/usr/local/cuda', 'include', 'cuda_runtime.h');

function has(tool) {
  return spawnSync(tool, ['--version'], { stdio: 'ignore' }).status === 0;
}

function skipReason() {
  if (process.platform !== 'linux') return 'the CUDA emulator test runs on Linux only';
  if (!existsSync(cudaInclude)) return `no CUDA headers at ${cudaInclude} (set CUDA_HOME)`;
  for (const tool of ['g++', 'python3', 'bash']) if (!has(tool)) return `${tool} not found`;
  return undefined;
}

const skip = skipReason();
if (skip) console.log(`cuda emulator: skipped: ${skip}`);

test('every CUDA kernel case passes under the host emulator, batch invariance included', { skip, timeout: 900_000 }, () => {
  const run = spawnSync('bash', [path.join(root, 'cuda', 'emulator', 'run.sh')], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const out = `${run.stdout ?? ''}${run.stderr ?? ''}`;
  const failures = out.split('\n').filter((l) => l.startsWith('FAIL'));
  assert.deepEqual(failures, [], out.slice(-4000));
  assert.equal(run.status, 0, out.slice(-4000));
  const summary = out.match(/(\d+)\/(\d+) emulated kernel cases pass/);
  assert.ok(summary, `no summary line in the emulator's output:\n${out.slice(-2000)}`);
  assert.equal(summary[1], summary[2]);
  assert.ok(out.includes('frames 2-3 of 3 == batch of 2'), 'the batch-invariance cases ran');
  assert.ok(out.includes('attention stratified conflict-free D=40'), 'the attention cases ran');
  assert.ok(out.includes('wgmma ss m64n64k16 A K-major sw128'), 'the Hopper instruction checks ran');
  assert.ok(out.includes('sm90 group_norm_conv2d') && out.includes('sm90 layer_norm_linear'), 'the fused-norm GEMM cases ran');
  assert.ok(out.includes('attention sm90 stratified conflict-free D=40'), 'the Hopper attention cases ran');
  console.log(summary[0]);
});
