// The command line: version, doctor, and exit codes for user errors.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { repoRoot } from './helpers/fixtures.mjs';

const cli = path.join(repoRoot, 'dist', 'cli', 'main.js');
const run = (...args) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });

test('indetail --version prints the package version', () => {
  const r = run('--version');
  assert.equal(r.status, 0);
  assert.equal(r.stdout.trim(), JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')).version);
});

test('indetail doctor prints the backends and why CUDA is or is not usable', () => {
  const r = run('doctor');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^backends: cpu/m);
  assert.match(r.stdout, /^cuda: (compiled|not compiled)/m);
  assert.match(r.stdout, /^gpu/m);
  const j = run('doctor', '--json');
  const report = JSON.parse(j.stdout);
  assert.ok(report.backends.includes('cpu'));
  assert.equal(typeof report.build.cudaCompiled, 'boolean');
});

test('an unknown command or flag is a user error: exit 1, a message, no stack trace', () => {
  for (const args of [['frobnicate'], ['doctor', '--bogus']]) {
    const r = run(...args);
    assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /Unknown argument/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  }
  const none = run();
  assert.equal(none.status, 1);
  assert.match(none.stderr, /Name a command/);
});
