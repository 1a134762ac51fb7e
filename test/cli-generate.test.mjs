// The generation commands of the CLI on the tiny fixture model: outputs, JSON summary, exit
// codes, and user errors without stack traces or half-written files.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { readPngText } from '../dist/index.js';
import { run } from './helpers/cli.mjs';
import { fixturePath } from './helpers/fixtures.mjs';

const dir = mkdtempSync(path.join(tmpdir(), 'indetail-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const model = fixturePath('tiny-sd15');
const common = ['--model', model, '--image', fixturePath('golden', 'input_image.png'), '--steps', '2', '--size', '64'];

test('indetail variation writes the samples and prints a JSON summary', async () => {
  const out = path.join(dir, 'variation');
  const r = await run('variation', ...common, '--prompt', 'a cat', '--samples', '2', '--seed', '42', '--out', out, '--json');
  assert.equal(r.status, 0, r.stderr);
  const summary = JSON.parse(r.stdout);
  assert.deepEqual(summary.files.map((f) => path.basename(f)), ['variation-42-1.png', 'variation-42-2.png']);
  assert.equal(summary.backend, 'cpu');
  assert.equal(summary.parameters.seed, '42');
  // One call per command: no image-prompt cache is recorded (it would only cost memory).
  assert.deepEqual(summary.kvCache, { status: 'off', reusedSteps: 0, recordedSteps: 0, entryBytes: 0 });
  const text = await readPngText(summary.files[0]);
  assert.equal(JSON.parse(text.parameters).prompt, 'a cat');
});

test('indetail cross and structure run; structure takes --control and --controlnet', async () => {
  const out = path.join(dir, 'cs');
  const c = await run('cross', ...common, '--prompt', 'an owl', '--seed', '1', '--out', out);
  assert.equal(c.status, 0, c.stderr);
  assert.match(c.stdout, /cross-1-1\.png/);
  const s = await run('structure', ...common, '--prompt', 'a penguin', '--seed', '1', '--out', out, '--control', fixturePath('golden', 'control_image.png'), '--controlnet', fixturePath('tiny-sd15-controlnet'), '--reconstruction');
  assert.equal(s.status, 0, s.stderr);
  assert.ok(existsSync(path.join(out, 'structure-1-1.png')));
  assert.ok(existsSync(path.join(out, 'structure-1-reconstruction.png')));
});

test('indetail info describes a folder and a single-file checkpoint', async () => {
  const a = await run('info', model, '--json');
  assert.equal(a.status, 0, a.stderr);
  assert.equal(JSON.parse(a.stdout).kind, 'diffusers');
  const b = await run('info', fixturePath('tiny-sd15.safetensors'), '--config', model, '--json');
  assert.equal(b.status, 0, b.stderr);
  assert.equal(JSON.parse(b.stdout).kind, 'single-file');
});

test('user errors exit 1 with a message and no stack trace, and write nothing', async () => {
  const out = path.join(dir, 'errors');
  const cases = [
    [['variation', ...common, '--prompt', 'x', '--size', 'huge', '--out', out], /Expected N or WxH/],
    [['variation', ...common, '--prompt', 'x', '--seed', 'abc', '--out', out], /Expected a non-negative integer for --seed/],
    [['variation', ...common, '--prompt', 'x', '--guidance-mode', 'sideways', '--out', out], /Invalid values/],
    [['variation', '--model', fixturePath('nope'), '--image', fixturePath('golden', 'input_image.png'), '--prompt', 'x', '--out', out], /model not found/],
    [['variation', ...common, '--prompt', 'x', '--steps', '-3', '--out', out], /for --steps but received -3/],
    [['variation', ...common.slice(0, 2), '--image', fixturePath('golden', 'manifest.json'), '--prompt', 'x', '--out', out], /manifest\.json/],
    [['variation', ...common], /Missing required argument: prompt/],
  ];
  for (const [args, re] of cases) {
    const r = await run(...args);
    assert.equal(r.status, 1, `${args.join(' ')}\n${r.stderr}`);
    assert.match(r.stderr, re);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
  assert.ok(!existsSync(out) || readdirSync(out).length === 0, 'nothing half-written');
});

test('--help shows the flags and an example', async () => {
  const r = await run('variation', '--help');
  assert.equal(r.status, 0);
  for (const flag of ['--model', '--image', '--prompt', '--negative', '--inversion-prompt', '--samples', '--steps', '--guidance', '--strat-steps', '--lambda-image', '--lambda-self', '--guidance-mode', '--attention', '--size', '--seed', '--backend', '--out']) {
    assert.ok(r.stdout.includes(flag), flag);
  }
  assert.match(r.stdout, /Examples:/);
  const s = await run('structure', '--help');
  assert.match(s.stdout, /--control\b/);
  assert.match(s.stdout, /--controlnet/);
});
