// The portable and AVX2 fallbacks of the CPU kernels: the op suites run again in child processes
// with INDETAIL_CPU_LEVEL forcing a lower instruction set (the level is chosen once per process).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildInfo } from '../dist/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const suites = ['ops-cpu.test.mjs', 'ops-cpu-gemm.test.mjs', 'ops-cpu-attention.test.mjs'].map((f) => path.join(here, f));
const native = buildInfo().cpuFeatures;
const rank = { generic: 0, avx2: 1, avx512: 2 };

// One child process per level runs the three suites in-process (node:test runs the tests of
// every imported file) and prints the level it ran at.
function runSuites(level) {
  const env = { ...process.env, INDETAIL_CPU_LEVEL: level };
  delete env.NODE_TEST_CONTEXT; // else node:test in the child thinks a runner owns it
  const script = [
    "import { buildInfo } from '../dist/index.js';",
    'console.log(`level=${buildInfo().cpuFeatures}`);',
    ...suites.map((f) => `await import(${JSON.stringify(pathToFileURL(f).href)});`),
  ].join('\n');
  // argument refusals do not depend on the ISA: skip them here
  const args = ['--test-reporter=dot', '--test-name-pattern=^(?!.*refuse)', '--input-type=module', '-e', script];
  const r = spawnSync(process.execPath, args, { cwd: here, env, encoding: 'utf8' });
  return { level: /level=(\w+)/.exec(r.stdout)?.[1], status: r.status, out: `${r.stdout}\n${r.stderr}` };
}

for (const level of ['generic', 'avx2']) {
  const skip = rank[level] <= rank[native] ? false : `this CPU runs at most ${native}`;
  test(`the op suites pass with INDETAIL_CPU_LEVEL=${level}`, { skip }, () => {
    const r = runSuites(level);
    assert.equal(r.level, level, `the child process runs the ${level} kernels`);
    assert.equal(r.status, 0, `op suites failed at level ${level}:\n${r.out}`);
    assert.match(r.out, /\.{20}/, `the child ran the suites (${r.out.trim()})`);
  });
}
