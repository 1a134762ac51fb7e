// CPU and CUDA agree on the full-size SD1.5 UNet (random weights) at 64×64 latents, conflict-free
// batch of 3 with stratified attention, for the steps of a short schedule (the same sample fed
// to both at each step, so errors do not compound). fp16 storage: relative L2 error per step
// below 2e-2 (DESIGN.md §3: CUDA vs CPU ~1e-2 relative).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { Engine, UNet } from '../../dist/index.js';
import { cudaSkipReason } from '../helpers/backends.mjs';
import { repoRoot } from '../helpers/fixtures.mjs';
import { lcgNoise } from '../helpers/random.mjs';

const skip = cudaSkipReason();
if (skip) console.log(skip);

test('full-size UNet: CUDA matches the CPU within fp16 error for a few steps', { skip: skip ?? false, timeout: 600_000 }, async (t) => {
  const config = JSON.parse(readFileSync(path.join(repoRoot, 'configs', 'sd15', 'unet', 'config.json'), 'utf8'));
  const cpu = new Engine({ backend: 'cpu' });
  const gpu = new Engine({ backend: 'cuda' });
  const [uc, ug] = await Promise.all([UNet.load(cpu, { config, weights: { random: 7 } }), UNet.load(gpu, { config, weights: { random: 7 } })]);
  const frames = 3;
  const sampleData = lcgNoise(frames * 64 * 64 * 4, 3);
  const contextData = lcgNoise(frames * 77 * 768, 4).map((v) => v * 2);
  const attention = { mode: 'stratified', ref: [-1, -1, 0], lambdaRef: 1, lambdaSelf: 1 };
  for (const [step, timestep] of [[0, 981], [1, 501], [2, 21]]) {
    const args = (e) => ({ sample: e.tensor(sampleData, [frames, 64, 64, 4]), context: e.tensor(contextData, [frames, 77, 768]), timesteps: Array(frames).fill(timestep), attention: { ...attention, mode: step === 2 ? 'concat' : 'stratified' } });
    const [a, b] = await Promise.all([uc.forward(args(cpu)), ug.forward(args(gpu))]);
    const want = await a.readFloat32();
    const got = await b.readFloat32();
    let num = 0;
    let den = 0;
    let maxAbs = 0;
    for (let i = 0; i < want.length; i++) {
      const d = got[i] - want[i];
      num += d * d;
      den += want[i] * want[i];
      maxAbs = Math.max(maxAbs, Math.abs(d));
    }
    const rel = Math.sqrt(num / den);
    t.diagnostic(`t=${timestep}: relative L2 ${rel.toExponential(2)}, max abs ${maxAbs.toExponential(2)}`);
    assert.ok(rel < 2e-2, `t=${timestep}: relative L2 error ${rel} >= 2e-2`);
  }
});
