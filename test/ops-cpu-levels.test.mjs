// Every instruction-set level of the CPU kernels: the op suites run again in child processes
// with INDETAIL_CPU_LEVEL capping the level (it is chosen once per process): the portable and
// AVX2 fallbacks, AVX-512 without AVX512-BF16 (the bf16 precision then runs fp32 kernels on
// bf16-rounded operands), and the AMX kernel — on a software model of the tiles where the CPU has
// no AMX (INDETAIL_AMX_EMULATE=1), on the real tiles where it has.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildInfo } from '../dist/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const suites = ['ops-cpu.test.mjs', 'ops-cpu-gemm.test.mjs', 'ops-cpu-attention.test.mjs', 'ops-cpu-bf16.test.mjs', 'ops-cpu-attention-bf16.test.mjs'].map((f) => path.join(here, f));
const native = buildInfo().cpuFeatures;
const rank = { generic: 0, avx2: 1, avx512: 2, avx512bf16: 3, amx: 4 };

// One child process per level runs the suites in-process (node:test runs the tests of every
// imported file) and prints the level and bf16 GEMM kernels it ran with.
function runSuites(env) {
  const childEnv = { ...process.env, ...env };
  delete childEnv.NODE_TEST_CONTEXT; // else node:test in the child thinks a runner owns it
  const script = [
    "import { buildInfo } from '../dist/index.js';",
    'console.log(`level=${buildInfo().cpuFeatures} bf16=[${buildInfo().cpuBf16Kernels}]`);',
    ...suites.map((f) => `await import(${JSON.stringify(pathToFileURL(f).href)});`),
  ].join('\n');
  // argument refusals do not depend on the ISA: skip them here
  const args = ['--test-reporter=dot', '--test-name-pattern=^(?!.*refuse)', '--input-type=module', '-e', script];
  const r = spawnSync(process.execPath, args, { cwd: here, env: childEnv, encoding: 'utf8' });
  return { level: /level=(\w+)/.exec(r.stdout)?.[1], bf16: /bf16=\[([^\]]*)\]/.exec(r.stdout)?.[1], status: r.status, out: `${r.stdout}\n${r.stderr}` };
}

const runs = [
  { name: 'INDETAIL_CPU_LEVEL=generic', env: { INDETAIL_CPU_LEVEL: 'generic' }, level: 'generic', bf16: '', needs: 'generic' },
  { name: 'INDETAIL_CPU_LEVEL=avx2', env: { INDETAIL_CPU_LEVEL: 'avx2' }, level: 'avx2', bf16: '', needs: 'avx2' },
  // the native run of the suites covers the highest level; this one the level below AVX512-BF16
  { name: 'INDETAIL_CPU_LEVEL=avx512', env: { INDETAIL_CPU_LEVEL: 'avx512' }, level: 'avx512', bf16: '', needs: 'avx512bf16' },
  { name: 'the AMX kernel on emulated tiles (INDETAIL_AMX_EMULATE=1)', env: { INDETAIL_CPU_LEVEL: 'avx512bf16', INDETAIL_AMX_EMULATE: '1' }, level: 'avx512bf16', bf16: 'amx (emulated)', needs: 'avx512bf16' },
  { name: 'the AMX kernel on the real tiles', env: { INDETAIL_CPU_LEVEL: 'amx' }, level: 'amx', bf16: 'amx', needs: 'amx' },
];

for (const r of runs) {
  const skip = rank[r.needs] <= rank[native] ? false : `this CPU runs at most ${native} (needs ${r.needs}); not run here`;
  if (skip && r.needs === 'amx') console.log(`# AMX kernels not run on real tiles: ${skip}`);
  test(`the op suites pass with ${r.name}`, { skip }, () => {
    const c = runSuites(r.env);
    assert.equal(c.level, r.level, `the child process runs the ${r.level} kernels`);
    assert.equal(c.bf16, r.bf16, `the child process runs the bf16 GEMM kernels '${r.bf16}'`);
    assert.equal(c.status, 0, `op suites failed with ${r.name}:\n${c.out}`);
    assert.match(c.out, /\.{20}/, `the child ran the suites (${c.out.trim()})`);
  });
}
