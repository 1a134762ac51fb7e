// The golden suite on the quality-metric fixture root (test/fixtures-eval): CLIP preprocessing,
// CLIP image and text embeddings, DINO keys and self-similarity, CLIP-I/T and DINO-G/C.
// Transitional: test/golden.test.mjs runs one fixture root (INDETAIL_FIXTURES); once it runs every
// test/fixtures*/golden/manifest.json root itself (issue #15), delete this file.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { repoRoot } from './helpers/fixtures.mjs';

test('golden suite on test/fixtures-eval', (t) => {
  const { NODE_TEST_CONTEXT: _, ...env } = process.env; // a child test run of its own, reporting on stdout
  const r = spawnSync(process.execPath, ['--test', '--test-reporter=tap', path.join(repoRoot, 'test', 'golden.test.mjs')], {
    env: { ...env, INDETAIL_FIXTURES: path.join(repoRoot, 'test', 'fixtures-eval') },
    encoding: 'utf8',
  });
  for (const line of r.stdout.split('\n')) if (/^# .*(max abs error|Subtest)|^(not )?ok /.test(line.trim())) t.diagnostic(line.trim().replace(/^# /, ''));
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /# pass 9\b/, 'all nine cases ran and passed');
});
