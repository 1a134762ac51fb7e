// Backend 'auto': CUDA only after the device probe and the GPU self-test kernel pass; any failure
// falls back to the CPU with exactly one warning naming the reason, and `indetail doctor` says
// what it found. INDETAIL_FORCE_CUDA_PROBE_FAILURE makes the CUDA probe fail on purpose (on a
// GPU machine the self-test kernel really runs, against a wrong expectation); each case runs in
// a fresh process because the probe runs once per process.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { backends, buildInfo } from '../dist/index.js';
import { fixturePath, repoRoot } from './helpers/fixtures.mjs';

const cli = path.join(repoRoot, 'dist', 'cli', 'main.js');
const index = path.join(repoRoot, 'dist', 'index.js');
const cudaCompiled = buildInfo().cudaCompiled;
const dir = mkdtempSync(path.join(tmpdir(), 'indetail-fallback-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function run(args, env) {
  const clean = { ...process.env };
  delete clean.INDETAIL_DISABLE_CUDA;
  delete clean.INDETAIL_FORCE_CUDA_PROBE_FAILURE;
  return new Promise((resolve) => {
    const p = spawn(process.execPath, args, { env: { ...clean, ...env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

// Loads Engines and a pipeline with backend 'auto' in a fresh process; reports the backends
// chosen, the process warnings and the onWarning/onInfo calls.
const probeScript = `
  const m = await import(${JSON.stringify(index)});
  const warnings = [];
  process.on('warning', (w) => warnings.push({ name: w.name, code: w.code, message: w.message }));
  const e1 = new m.Engine({ backend: 'auto' });
  const e2 = new m.Engine({ backend: 'auto' });
  const onWarning = [];
  const onInfo = [];
  const pipe = process.env.PROBE_PIPELINE === '1'
    ? await m.IndetailPipeline.load({ model: ${JSON.stringify(fixturePath('tiny-sd15'))}, backend: 'auto',
        onWarning: (x) => onWarning.push(x), onInfo: (x) => onInfo.push(x) })
    : new m.Engine({ backend: 'auto', onWarning: (x) => onWarning.push(x) });
  await new Promise((r) => setImmediate(r)); // process warnings are emitted on the next tick
  console.log(JSON.stringify({ engines: [e1.backend, e2.backend], pipeline: pipe.backend, warnings, onWarning, onInfo,
    reason: m.buildInfo().cudaUnavailableReason, probe: await m.probeCuda() }));
  pipe.dispose(); e1.dispose(); e2.dispose();`;

// pipeline: load the tiny pipeline (else a third Engine with its own onWarning).
async function probe(env, { pipeline = false } = {}) {
  const r = await run(['--input-type=module', '-e', probeScript], { ...env, PROBE_PIPELINE: pipeline ? '1' : '0' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').at(-1));
}

function expectedReason(forced) {
  if (!cudaCompiled) return /compiled without CUDA/;
  return {
    'self-test': /self-test failed.*\(simulated by INDETAIL_FORCE_CUDA_PROBE_FAILURE=self-test\)/,
    driver: /no usable NVIDIA driver \(simulated by INDETAIL_FORCE_CUDA_PROBE_FAILURE=driver\).*driver >= 580/,
    'no-device': /no CUDA device found \(simulated by INDETAIL_FORCE_CUDA_PROBE_FAILURE=no-device\)/,
    unsupported: /no GPU this build supports \(simulated by INDETAIL_FORCE_CUDA_PROBE_FAILURE=unsupported\); built for \d/,
    bogus: /INDETAIL_FORCE_CUDA_PROBE_FAILURE has the unknown value 'bogus'/,
  }[forced];
}

test('a failed CUDA self-test: CPU chosen everywhere, one process warning and one onWarning call naming the reason', async () => {
  const r = await probe({ INDETAIL_FORCE_CUDA_PROBE_FAILURE: 'self-test' }, { pipeline: true });
  const reason = expectedReason('self-test');
  assert.deepEqual(r.engines, ['cpu', 'cpu']);
  assert.equal(r.pipeline, 'cpu');
  assert.match(r.reason, reason);
  assert.equal(r.probe, r.reason, 'the asynchronous probe reports the same reason');
  // Two Engines: one warning for the whole process.
  assert.equal(r.warnings.length, 1, JSON.stringify(r.warnings));
  assert.equal(r.warnings[0].name, 'IndetailWarning');
  assert.equal(r.warnings[0].code, 'INDETAIL_CPU_FALLBACK');
  assert.match(r.warnings[0].message, /^CUDA is not used, running on the CPU/);
  assert.match(r.warnings[0].message, reason);
  // A pipeline with its own handler gets the warning there, once, and no info line repeating it.
  assert.equal(r.onWarning.length, 1);
  assert.match(r.onWarning[0], reason);
  assert.deepEqual(r.onInfo, []);
});

test('every simulated probe failure names its reason and falls back to the CPU', async () => {
  for (const forced of ['driver', 'no-device', 'unsupported', 'bogus']) {
    const r = await probe({ INDETAIL_FORCE_CUDA_PROBE_FAILURE: forced });
    assert.equal(r.pipeline, 'cpu', forced);
    assert.match(r.reason, expectedReason(forced), forced);
    assert.equal(r.warnings.length, 1, forced);
    assert.equal(r.onWarning.length, 1, forced);
  }
});

test('INDETAIL_DISABLE_CUDA is a choice, not a failure: CPU, no warning, an info line; it wins over a forced failure', async () => {
  const r = await probe({ INDETAIL_DISABLE_CUDA: '1', INDETAIL_FORCE_CUDA_PROBE_FAILURE: 'self-test' }, { pipeline: true });
  assert.deepEqual(r.engines, ['cpu', 'cpu']);
  assert.equal(r.pipeline, 'cpu');
  assert.deepEqual(r.warnings, []);
  assert.deepEqual(r.onWarning, []);
  assert.equal(r.onInfo.length, 1);
  assert.match(r.onInfo[0], /^using the CPU backend/);
  if (cudaCompiled) assert.match(r.reason, /INDETAIL_DISABLE_CUDA/);
});

test('without forcing, auto takes CUDA exactly when backends() lists it', async () => {
  // Engines only: a pipeline on CUDA needs every model kernel, which is not this test's subject.
  const r = await probe({});
  if (backends().includes('cuda')) {
    assert.deepEqual(r.engines, ['cuda:0', 'cuda:0']);
    assert.equal(r.reason, '');
    assert.deepEqual(r.warnings, []);
    assert.deepEqual(r.onWarning, []);
  } else {
    assert.deepEqual(r.engines, ['cpu', 'cpu']);
    assert.ok(r.reason.length > 0);
    assert.equal(r.warnings.length, 1);
    assert.ok(r.warnings[0].message.endsWith(r.reason));
  }
});

test('the CLI prints one warning line with the reason and runs on the CPU', async () => {
  const out = path.join(dir, 'cli');
  const r = await run(
    [cli, 'variation', '--model', fixturePath('tiny-sd15'), '--image', fixturePath('golden', 'input_image.png'),
      '--prompt', 'a cat', '--steps', '2', '--size', '64', '--seed', '3', '--out', out, '--json'],
    { INDETAIL_FORCE_CUDA_PROBE_FAILURE: 'self-test' },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).backend, 'cpu');
  const warnings = r.stderr.split('\n').filter((l) => /warning/i.test(l));
  assert.equal(warnings.length, 1, r.stderr);
  assert.match(warnings[0], /^indetail: warning: CUDA is not used, running on the CPU/);
  assert.match(warnings[0], expectedReason('self-test'));
});

test('indetail doctor shows what the probe found and why auto uses the CPU', async () => {
  const r = await run([cli, 'doctor'], { INDETAIL_FORCE_CUDA_PROBE_FAILURE: 'self-test' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^addon: .+\.node \((prebuilt|compiled)\)$/m);
  assert.match(r.stdout, /^cuda: (compiled \(runtime [\d.]+, [\d,a-z-]+\)|not compiled)$/m);
  const auto = /^backend 'auto' uses: cpu — (.+)$/m.exec(r.stdout);
  assert.ok(auto, r.stdout);
  assert.match(auto[1], expectedReason('self-test'));
  assert.match(r.stdout, /^environment: .*INDETAIL_FORCE_CUDA_PROBE_FAILURE=self-test/m);
  assert.doesNotMatch(r.stdout, /^backends: .*cuda/m);

  const j = await run([cli, 'doctor', '--json'], { INDETAIL_FORCE_CUDA_PROBE_FAILURE: 'self-test' });
  const report = JSON.parse(j.stdout);
  assert.equal(report.auto.backend, 'cpu');
  assert.match(report.auto.reason, expectedReason('self-test'));
  assert.equal(report.environment.INDETAIL_FORCE_CUDA_PROBE_FAILURE, 'self-test');
  assert.deepEqual(report.backends, ['cpu']);
});
