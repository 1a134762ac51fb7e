// bench/side-by-side.mjs, the table of a device run: indetail's benchmark JSON (the H100 run in
// bench/results/h100) next to a reference benchmark JSON in bench_reference.py's schema, with
// speed-ups and targets computed from those inputs.
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { loadRun, report, targets } from '../bench/side-by-side.mjs';
import { repoRoot } from './helpers/fixtures.mjs';

const h100 = path.join(repoRoot, 'bench', 'results', 'h100');
const GiB = 2 ** 30;
const reference = {
  env: { device_name: 'NVIDIA H200' },
  unet_forward: [1, 2, 3, 4, 9, 10].map((batch) => ({ batch, ms_median: 10 * batch + 0.5 })),
  summary_generate: [
    { task: 'imgvar', num_samples: 1, attention: 'devil', wall_s: 6.6, peak_mem_allocated: 4 * GiB },
    { task: 'imgvar', num_samples: 1, attention: 'plain', wall_s: 5.1, peak_mem_allocated: 3.9 * GiB },
    { task: 'imgvar', num_samples: 4, attention: 'devil', wall_s: 13.2, peak_mem_allocated: 8 * GiB },
  ],
};

function runDir(withReference) {
  const dir = mkdtempSync(path.join(tmpdir(), 'indetail-sbs-'));
  for (const f of ['unet-gpu.json', 'e2e-gpu.json', 'cuda-ops.json', 'attention.json']) copyFileSync(path.join(h100, f), path.join(dir, f));
  if (withReference) writeFileSync(path.join(dir, 'reference_bench.json'), JSON.stringify(reference));
  return dir;
}

test('the table puts the reference next to indetail and computes the speed-ups from both', () => {
  const dir = runDir(true);
  try {
    const run = loadRun(dir);
    const text = report(run);
    assert.match(text, /on NVIDIA H200/);
    const ours2 = run.unet.find((r) => r.batch === 2 && r.graphs === 'on')['ms/step'];
    assert.ok(text.includes(`| batch 2 | 20.50 | ${ours2.toFixed(2)} | - | ${(20.5 / ours2).toFixed(2)}x |`), text);
    const ours9 = run.unet.find((r) => r.batch === 9 && r.graphs === 'on')['ms/step'];
    assert.ok(text.includes(`(reference b10, indetail b9) | 100.50 | ${ours9.toFixed(2)} |`), text);
    const first1 = run.e2e.find((r) => r.samples === 1 && r.call === 'first call');
    const cached1 = run.e2e.find((r) => r.samples === 1 && r.call === 'cached prompt');
    assert.ok(
      text.includes(`| n = 1 | 6.60 | 5.10 | ${first1['total s'].toFixed(2)} | ${cached1['total s'].toFixed(2)} | ` +
        `${(6.6 / first1['total s']).toFixed(2)}x / ${(6.6 / cached1['total s']).toFixed(2)}x |`),
      text,
    );
    const t = Object.fromEntries(targets(run).map((x) => [x.name, x]));
    const speedup = 6.6 / first1['total s'];
    assert.equal(t['n=1: speed-up vs the reference code'].status, speedup >= 3 ? 'met' : `MISSED by ${(100 * (1 - speedup / 3)).toFixed(0)}%`);
    assert.equal(t['UNet step batch 2'].status, `MISSED by ${(100 * (ours2 / 8 - 1)).toFixed(0)}%`);
    assert.equal(t['GroupNorm-fused conv / plain conv'].status, 'not measured');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('without a reference run the reference columns stay empty and its targets are not measured', () => {
  const dir = runDir(false);
  try {
    const run = loadRun(dir);
    assert.match(report(run), /\| batch 1 \| - \| /);
    const t = Object.fromEntries(targets(run).map((x) => [x.name, x]));
    assert.equal(t['n=4: speed-up vs the reference code'].status, 'not measured');
    assert.equal(t['n=4: memory / the reference\'s'].status, 'not measured');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
