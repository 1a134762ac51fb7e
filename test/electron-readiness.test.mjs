// What embedding in Electron (main process or utilityProcess) relies on, checked without Electron:
// the addon speaks Node-API only (no V8/libuv/node symbols, no external ArrayBuffers, which
// Electron's V8 memory cage forbids), keeps its JS state per environment (several Node-API
// environments in one process — worker threads here — and an environment torn down while native
// work is in flight), and leaves the JavaScript thread free while models run.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { Engine, IndetailPipeline } from '../dist/index.js';
import { fixturePath, repoRoot } from './helpers/fixtures.mjs';

const require = createRequire(import.meta.url);
const addonPath = require('node-gyp-build').path(repoRoot);
const index = path.join(repoRoot, 'dist', 'index.js');

function bindingSources() {
  const dir = path.join(repoRoot, 'binding');
  return readdirSync(dir)
    .filter((f) => /\.(cc|h)$/.test(f))
    .map((f) => ({ file: `binding/${f}`, text: readFileSync(path.join(dir, f), 'utf8') }));
}

test('the binding uses Node-API only and never creates external ArrayBuffers or Buffers', () => {
  const forbidden = [
    [/#include\s*[<"](node|v8|uv|node_buffer|node_object_wrap)\.h[>"]/, 'a V8/Node/libuv header'],
    [/\b(v8|node|uv)::/, 'the V8/Node/libuv C++ API'],
    [/napi_create_external_(arraybuffer|buffer)/, 'an external ArrayBuffer/Buffer'],
    [/ArrayBuffer::New\(\s*[^,()]+,\s*[^,()]+,/, 'an external ArrayBuffer (ArrayBuffer::New with a data pointer)'],
    [/Buffer<[^>]*>::New\(\s*[^,()]+,\s*[^,()]+,/, 'an external Buffer (Buffer::New with a data pointer)'],
    [/static\s+(thread_local\s+)?Napi::\w*Reference\b/, 'a static JavaScript reference (must live in the per-environment AddonData)'],
    [/static\s+(thread_local\s+)?Napi::(Value|Object|Function|Env)\s+\w+\s*[;=]/, 'a static JavaScript value'],
  ];
  for (const { file, text } of bindingSources()) {
    for (const [re, what] of forbidden) assert.doesNotMatch(text, re, `${file} uses ${what}`);
  }
  const data = readFileSync(path.join(repoRoot, 'binding', 'addon_data.h'), 'utf8');
  assert.match(data, /SetInstanceData/, 'constructors are per-environment instance data');
});

test('the addon binary imports only Node-API and C/C++ runtime symbols', (t) => {
  if (spawnSync('sh', ['-c', 'command -v nm']).status !== 0) return t.skip('skipped: nm is not installed');
  const out = execFileSync('nm', ['-D', '--undefined-only', addonPath], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const symbols = out.split('\n').map((l) => l.trim().split(/\s+/).at(-1)).filter(Boolean);
  const napi = symbols.filter((s) => /^(napi_|node_api_)/.test(s));
  assert.ok(napi.length > 10, 'the addon calls Node-API');
  const other = symbols.filter((s) => !/^(napi_|node_api_)/.test(s) && !/@(GLIBC|GLIBCXX|CXXABI|GCC)_/.test(s) && !/^(__gmon_start__|_ITM_\w+|__cxa_finalize)$/.test(s));
  assert.deepEqual(other, [], `unversioned imports that Node/Electron would have to provide: ${other.slice(0, 10).join(', ')}`);
  for (const s of symbols) assert.doesNotMatch(s, /^_ZN(2v8|4node)|^uv_/, `imports ${s}`);
});

const workerCode = (mode) => `
  const { parentPort } = require('node:worker_threads');
  import(${JSON.stringify(index)}).then(async (m) => {
    const e = new m.Engine({ backend: 'cpu' });
    if (${JSON.stringify(mode)} === 'busy') {
      const n = 1 << 22;
      const x = e.tensor(new Float32Array(n).fill(1), [n]);
      const y = e.tensor(new Float32Array(n), [n]);
      const work = e.timeOp('axpy', { a: 1, x, y }, { warmup: 0, iterations: 400 });
      parentPort.postMessage('busy');
      await work;
      parentPort.postMessage('finished');
      return;
    }
    const n = 1000;
    const x = e.tensor(Float32Array.from({ length: n }, (_, i) => i), [n]);
    const y = e.tensor(new Float32Array(n).fill(1), [n]);
    await e.op('axpy', { a: 2, x, y });
    const back = await y.read();
    let ok = true;
    for (let i = 0; i < n; i++) ok &&= back[i] === 2 * i + 1;
    e.dispose();
    parentPort.postMessage(ok ? 'ok' : 'wrong values');
  }).catch((err) => parentPort.postMessage('error: ' + err.stack));`;

function runWorker(mode, onMessage) {
  const w = new Worker(workerCode(mode), { eval: true });
  const messages = [];
  const done = new Promise((resolve, reject) => {
    w.on('message', (m) => {
      messages.push(m);
      onMessage?.(m, w);
    });
    w.on('error', reject);
    w.on('exit', (code) => resolve({ code, messages }));
  });
  return done;
}

test('the addon loads and works in several environments at once (worker threads) and in the main thread after them', async () => {
  const results = await Promise.all([runWorker('ops'), runWorker('ops'), runWorker('ops')]);
  for (const r of results) assert.deepEqual(r.messages, ['ok']);
  const e = new Engine({ backend: 'cpu' });
  const t = e.tensor(new Float32Array([1, 2, 3]), [3]);
  assert.deepEqual(Array.from(await t.read()), [1, 2, 3]);
  e.dispose();
});

test('an environment torn down while native work runs (worker.terminate) does not crash the process', async () => {
  const r = await runWorker('busy', (m, w) => {
    if (m === 'busy') void w.terminate();
  });
  assert.deepEqual(r.messages, ['busy'], 'terminated before the work finished');
  assert.equal(r.code, 1, 'exit code of a terminated worker');
  // The process and the addon are still fine.
  const again = await runWorker('ops');
  assert.deepEqual(again.messages, ['ok']);
});

test('model loads and generation run off the JavaScript thread: the event loop turns during them', async () => {
  let turns = 0;
  let spinning = true;
  const spin = () => {
    if (!spinning) return;
    turns++;
    setImmediate(spin);
  };
  setImmediate(spin);
  const pipe = await IndetailPipeline.load({ model: fixturePath('tiny-sd15'), backend: 'cpu' });
  const afterLoad = turns;
  const r = await pipe.variation({ image: fixturePath('golden', 'input_image.png'), prompt: 'a cat', steps: 2, size: 64, seed: 1 });
  spinning = false;
  pipe.dispose();
  assert.equal(r.images.length, 1);
  // Four model loads, then per step several native forwards: each awaited native call lets the loop turn.
  assert.ok(afterLoad >= 4, `the loop turned ${afterLoad} times during the model loads`);
  assert.ok(turns - afterLoad >= 2 * 2 + 3, `the loop turned ${turns - afterLoad} times during a 2-step generation`);
});
