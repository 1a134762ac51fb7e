// Facts about the built addon: it loads without the CUDA libraries (static cudart, no libcuda
// NEEDED entry), CUDA is compiled in wherever nvcc exists, and it reports its backends.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { backends, buildInfo, devices } from '../dist/index.js';
import { repoRoot } from './helpers/fixtures.mjs';

const require = createRequire(import.meta.url);
const addonPath = require('node-gyp-build').path(repoRoot);

function which(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

test('the addon has no NEEDED entry for libcuda or libcudart', (t) => {
  if (!which('readelf')) return t.skip('skipped: readelf is not installed');
  const out = execFileSync('readelf', ['-d', addonPath], { encoding: 'utf8' });
  const needed = [...out.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
  assert.ok(needed.length > 0, 'readelf found the dynamic section');
  for (const lib of needed) assert.doesNotMatch(lib, /libcuda|libcudart|libnvrtc|libcublas/, `NEEDED ${lib}`);
});

test('CUDA is compiled in wherever nvcc is available', (t) => {
  const info = buildInfo();
  if (which('nvcc') && process.env.INDETAIL_CUDA !== '0') {
    assert.equal(info.cudaCompiled, true, 'nvcc is on PATH, so the build must include the CUDA backend');
    assert.match(info.cudaArchitectures, /80-real.*86-real.*89-real.*90-real.*90-virtual|^\d/);
  } else {
    t.diagnostic(`nvcc not found; cudaCompiled=${info.cudaCompiled}`);
  }
});

test('backends() always has cpu; cuda only with a usable device, and devices() agrees', () => {
  const list = backends();
  assert.equal(list[0], 'cpu');
  const info = buildInfo();
  if (list.includes('cuda')) {
    assert.equal(info.cudaUnavailableReason, '');
    assert.ok(devices().length > 0);
    for (const d of devices()) {
      assert.match(d.computeCapability, /^\d+\.\d+$/);
      assert.ok(d.totalMemory > 0 && d.name.length > 0);
    }
  } else {
    assert.ok(info.cudaUnavailableReason.length > 0, 'a reason is given when CUDA is unusable');
  }
  assert.equal(info.napiVersion, 8);
  assert.match(info.cpuFeatures, /^(generic|avx2|avx512|avx512bf16|amx)$/);
});

test('INDETAIL_DISABLE_CUDA turns the CUDA backend off with a reason', () => {
  const script = `import('${repoRoot}/dist/index.js').then(m => console.log(JSON.stringify({b: m.backends(), r: m.buildInfo().cudaUnavailableReason})))`;
  const out = execFileSync(process.execPath, ['-e', script], { env: { ...process.env, INDETAIL_DISABLE_CUDA: '1' }, encoding: 'utf8' });
  const r = JSON.parse(out);
  assert.deepEqual(r.b, ['cpu']);
  if (buildInfo().cudaCompiled) assert.match(r.r, /INDETAIL_DISABLE_CUDA/);
});
