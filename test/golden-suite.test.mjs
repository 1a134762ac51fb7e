// The golden suite's own rules: it runs over INDETAIL_FIXTURES when set, a case whose kind has no
// handler fails (it is not skipped), a case whose golden file is missing fails, and the
// comparison helpers fail when the lengths differ or there is nothing to compare.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { assertClose, closeness, maxAbsDiff, maxAbsError, sameBits } from './helpers/compare.mjs';
import { repoRoot } from './helpers/fixtures.mjs';

// A test run of its own: without the parent runner's NODE_TEST_CONTEXT, which would make the child report to it.
const { NODE_TEST_CONTEXT: _, ...childEnv } = process.env;
const dir = mkdtempSync(path.join(tmpdir(), 'indetail-golden-suite-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('a fixture root with a kind nobody handles, or a missing golden file, fails the suite by name', () => {
  const root = path.join(dir, 'root');
  mkdirSync(path.join(root, 'golden'), { recursive: true });
  writeFileSync(path.join(root, 'golden', 'new.json'), '{}');
  const manifest = {
    format_version: 1,
    model: 'none',
    model_dirs: {},
    cases: [
      { name: 'future_case', kind: 'encode_prompt_future', file: 'golden/new.json', parameters: {}, inputs: {}, outputs: {}, tolerance: {} },
      { name: 'lost_case', kind: 'images', file: 'golden/missing.safetensors', parameters: {}, inputs: {}, outputs: {}, tolerance: {} },
    ],
  };
  writeFileSync(path.join(root, 'golden', 'manifest.json'), JSON.stringify(manifest));
  const r = spawnSync(process.execPath, ['--test', '--test-reporter=spec', path.join(repoRoot, 'test', 'golden.test.mjs')], {
    encoding: 'utf8',
    env: { ...childEnv, INDETAIL_FIXTURES: root },
  });
  const out = `${r.stdout}${r.stderr}`;
  assert.notEqual(r.status, 0, 'the suite fails');
  assert.match(out, /no handler for kind 'encode_prompt_future'.*add test\/golden\/kinds\/encode_prompt_future\.mjs/);
  assert.match(out, /golden file golden\/missing\.safetensors of case lost_case is missing/);
  assert.match(out, /ℹ fail 2/);
  assert.match(out, /ℹ skipped 0/);
});

test('comparisons fail on a length mismatch or an empty result', () => {
  const want = Float32Array.from([1, 2, 3]);
  for (const got of [new Float32Array(0), Float32Array.from([1, 2])]) {
    assert.throws(() => closeness(got, want, { atol: 1 }), /length \d != expected 3/);
    assert.throws(() => assertClose(got, want, { atol: 1 }), /length \d != expected 3/);
    assert.throws(() => maxAbsDiff(got, want), /length \d != expected 3/);
    assert.throws(() => maxAbsError(got, want), /lengths differ/);
    assert.throws(() => sameBits(got, want), /length \d != expected 3/);
  }
  assert.throws(() => closeness(new Float32Array(0), new Float32Array(0)), /nothing to compare/);
  assert.equal(maxAbsDiff(want, Float32Array.from([1, 2, 3.5])), 0.5);
});
