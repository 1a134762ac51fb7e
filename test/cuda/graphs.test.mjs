// CUDA graphs for the UNet step (engine/models/unet_graphs.h): a key's first forward runs
// eagerly, the second records a graph, later ones replay it. A replay gives the same bits as the
// eager forward for any inputs of the key (timesteps included); other keys get their own graph;
// memory a graph writes is never handed to other tensors (sentinel tensors allocated after the
// recording keep their values through replays); turning graphs off (setter, environment) runs
// eagerly; whole pipeline calls give the same bits with graphs on and off, and the golden
// pipeline cases pass on CUDA with graphs on. On the CPU graphs are reported unsupported and
// change nothing (the first test). Without a GPU the tiny-model tests still run, on the CPU with
// emulated recording (INDETAIL_UNET_GRAPHS_EMULATE=1: a replay re-runs the recorded forward), which
// checks the key, buffer and copy logic but not CUDA itself.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { Engine, IndetailError, IndetailPipeline, UNet, floatToU8, openSafetensors } from '../../dist/index.js';
import { cancelChecks } from '../../dist/cancel.js';
import { unetGraphTotals } from '../../dist/models/unet.js';
import { cudaSkipReason } from '../helpers/backends.mjs';
import { fixturePath, goldenRoots, loadManifest, modelDir, repoRoot } from '../helpers/fixtures.mjs';
import { pipelineCall, runPipelineCase } from '../golden/kinds/pipeline.mjs';
import { xorshiftNoise } from '../helpers/random.mjs';

const skip = cudaSkipReason();
if (skip) console.log(`${skip}; the tiny-model graph tests run on the CPU with emulated recording`);
const gpu = !skip;
const backend = gpu ? 'cuda' : 'cpu';

/** Runs fn with emulated recording when there is no GPU. */
async function graphsAvailable(fn) {
  if (gpu) return fn();
  process.env.INDETAIL_UNET_GRAPHS_EMULATE = '1';
  try {
    return await fn();
  } finally {
    delete process.env.INDETAIL_UNET_GRAPHS_EMULATE;
  }
}

const tinyDir = fixturePath('tiny-sd15', 'unet');

/** Index of the first differing value (-1 when the bits are the same) and the count. */
function diffBits(a, b) {
  assert.equal(a.length, b.length, 'lengths');
  let first = -1;
  let count = 0;
  for (let i = 0; i < a.length; i++) {
    if (Object.is(a[i], b[i])) continue;
    if (first < 0) first = i;
    count++;
  }
  return { first, count };
}

function assertSameBits(got, want, what) {
  const d = diffBits(got, want);
  assert.equal(d.count, 0, `${what}: ${d.count} values differ (first at ${d.first}: ${got[d.first]} vs ${want[d.first]})`);
}

async function read(t) {
  const data = await t.readFloat32();
  t.dispose();
  return data;
}

test('graphs on the CPU: reported unsupported, forwards unchanged, options checked', async () => {
  const engine = new Engine({ backend: 'cpu' });
  const unet = await UNet.load(engine, { dir: tinyDir });
  try {
    assert.equal(unet.cudaGraphs, true, 'on by default');
    const args = () => ({ sample: engine.tensor(xorshiftNoise(2 * 16 * 16 * 4, 1), [2, 16, 16, 4]), context: engine.tensor(xorshiftNoise(2 * 77 * 32, 2), [2, 77, 32]), timesteps: 500, attention: { mode: 'stratified', ref: [-1, 0] } });
    const a = await read(await unet.forward(args()));
    const b = await read(await unet.forward(args()));
    const c = await read(await unet.forward(args()));
    assertSameBits(b, a, 'second forward');
    assertSameBits(c, a, 'third forward');
    const s = unet.graphStats();
    assert.equal(s.supported, false);
    assert.match(s.unsupportedReason ?? '', /cannot record/);
    assert.deepEqual([s.graphs, s.captures, s.replays, s.eager, s.failures, s.bytes], [0, 0, 0, 3, 0, 0]);
    unet.cudaGraphs = false;
    assert.equal(unet.cudaGraphs, false);
    assert.throws(() => {
      unet.cudaGraphs = 'no';
    }, IndetailError);
    await assert.rejects(UNet.load(engine, { dir: tinyDir }, { cudaGraphs: 1 }), /boolean for cudaGraphs/);
    await assert.rejects(IndetailPipeline.load({ model: fixturePath('tiny-sd15'), backend: 'cpu', cudaGraphs: 'yes' }), /boolean for cudaGraphs/);
  } finally {
    unet.dispose();
    engine.dispose();
  }
});

/** f16 tensors of every 512-byte size class up to 256 KiB and 4 KiB steps to 1 MiB, each filled with its own value. */
async function sentinels(engine) {
  const sizes = [];
  for (let b = 512; b <= 256 * 1024; b += 512) sizes.push(b / 2);
  for (let b = 260 * 1024; b <= 1024 * 1024; b += 4096) sizes.push(b / 2);
  const list = [];
  for (let i = 0; i < sizes.length; i++) {
    const t = engine.empty([sizes[i]]);
    const value = (i % 200) + 1;
    engine.opSync('fill', { y: t, value });
    list.push({ t, value });
  }
  return list;
}

function checkSentinels(list, when) {
  let bad = 0;
  for (const { t, value } of list) {
    const d = t.readSync();
    if (!d.every((x) => x === value)) bad++;
  }
  assert.equal(bad, 0, `${when}: ${bad} of ${list.length} tensors allocated after the recording were overwritten`);
}

test('tiny UNet: replays give the eager bits for every input of a key; a graph per key; graph memory stays private', { timeout: 300_000 }, () => graphsAvailable(async () => {
  const engine = new Engine({ backend });
  const [graphs, eager] = await Promise.all([UNet.load(engine, { dir: tinyDir }), UNet.load(engine, { dir: tinyDir }, { cudaGraphs: false })]);
  try {
    const frames = 3;
    const attention = { mode: 'stratified', ref: [-1, -1, 0], lambdaRef: 0.8, lambdaSelf: 1 };
    const inputs = (seed, n = frames, extra = {}) => ({
      sample: engine.tensor(xorshiftNoise(n * 16 * 16 * 4, seed), [n, 16, 16, 4]),
      context: engine.tensor(xorshiftNoise(n * 77 * 32, seed + 100).map((v) => 2 * v), [n, 77, 32]),
      timesteps: Array.from({ length: n }, (_, i) => ((97 * seed) % 900) + 10 * i),
      attention: n === frames ? attention : { mode: 'none' },
      ...extra,
    });
    const want = [];
    for (let k = 0; k < 5; k++) want.push(await read(await eager.forward(inputs(k + 1))));
    for (let k = 0; k < 5; k++) assertSameBits(await read(await graphs.forward(inputs(k + 1))), want[k], `input ${k}`);
    let s = graphs.graphStats();
    assert.equal(s.failures, 0, `recording failed: ${s.lastFailure}`);
    assert.deepEqual([s.graphs, s.captures, s.replays, s.eager], [1, 1, 4, 1], 'first forward eager, then one recording and replays');
    if (gpu) assert.ok(s.bytes > 0 && s.operations > 100, `a graph of the whole forward (${s.operations} operations, ${s.bytes} bytes)`);

    // Other keys: another attention mode, another batch size, another lambda.
    const keys = [
      (seed) => inputs(seed, frames, { attention: { ...attention, mode: 'concat' } }),
      (seed) => inputs(seed, 2),
      (seed) => inputs(seed, frames, { attention: { ...attention, lambdaRef: 0.5 } }),
    ];
    for (const [j, make] of keys.entries()) {
      for (let k = 0; k < 3; k++) {
        const expected = await read(await eager.forward(make(10 * j + k)));
        assertSameBits(await read(await graphs.forward(make(10 * j + k))), expected, `key ${j + 1}, input ${k}`);
      }
    }
    s = graphs.graphStats();
    assert.equal(s.failures, 0, `recording failed: ${s.lastFailure}`);
    assert.deepEqual([s.graphs, s.captures], [4, 4], 'one graph per key');

    // Tensors allocated after the recordings keep their values through replays of every key.
    const guard = gpu ? await sentinels(engine) : [];
    const kept = await graphs.forward(inputs(1));
    for (const make of [(seed) => inputs(seed), ...keys]) (await graphs.forward(make(3))).dispose();
    checkSentinels(guard, 'after replays');
    // The returned output is the caller's: later replays do not touch it.
    assertSameBits(await read(kept), want[0], 'an output kept across later replays');
    // A replay after other work and allocations is still right.
    (await eager.forward(inputs(7, 5))).dispose();
    assertSameBits(await read(await graphs.forward(inputs(2))), want[1], 'replay after other work');
    for (const { t } of guard) t.dispose();
    assert.equal(graphs.graphStats().failures, 0);
  } finally {
    graphs.dispose();
    eager.dispose();
    engine.dispose();
  }
}));

test('full-size UNet at 64×64, batch 3, stratified, recorded and cached K/V: replays give the eager bits', { skip: skip ?? false, timeout: 600_000 }, async (t) => {
  const config = JSON.parse(readFileSync(path.join(repoRoot, 'configs', 'sd15', 'unet', 'config.json'), 'utf8'));
  const engine = new Engine({ backend: 'cuda' });
  const unet = await UNet.load(engine, { config, weights: { random: 5 } });
  try {
    const frames = 3;
    const attention = { mode: 'stratified', ref: [-1, -1, 0], lambdaRef: 1, lambdaSelf: 1 };
    const data = (k) => ({ sample: xorshiftNoise(frames * 64 * 64 * 4, 11 + k), context: xorshiftNoise(frames * 77 * 768, 21 + k).map((v) => 2 * v), timestep: [981, 501, 21, 741][k] });
    const sets = [0, 1, 2, 3].map(data);
    const full = (d) => ({ sample: engine.tensor(d.sample, [frames, 64, 64, 4]), context: engine.tensor(d.context, [frames, 77, 768]), timesteps: d.timestep, attention });
    // Rows 1 and 2 with P's decoder K/V from a cache: ref indexes the cache's row.
    const rest = (d, cache) => ({
      sample: engine.tensor(d.sample.subarray(64 * 64 * 4), [2, 64, 64, 4]),
      context: engine.tensor(d.context.subarray(77 * 768), [2, 77, 768]),
      timesteps: d.timestep,
      attention: { ...attention, ref: [-1, 0] },
      refKV: { cache, step: 0 },
    });

    unet.cudaGraphs = false;
    const want = [];
    for (const d of sets) want.push(await read(await unet.forward(full(d))));
    const cache = unet.createKVCache(1, 1);
    assertSameBits(await read(await unet.forward({ ...full(sets[0]), recordKV: { cache, step: 0, rows: [0] } })), want[0], 'eager recording forward');
    const wantRest = [];
    for (const d of sets) wantRest.push(await read(await unet.forward(rest(d, cache))));

    unet.cudaGraphs = true;
    for (const [k, d] of sets.entries()) assertSameBits(await read(await unet.forward(full(d))), want[k], `batch 3, input ${k}`);
    assertSameBits(await read(await unet.forward(full(sets[0]))), want[0], 'batch 3, input 0 again');
    for (const [k, d] of sets.entries()) assertSameBits(await read(await unet.forward(rest(d, cache))), wantRest[k], `refKV, input ${k}`);
    // Recording through a graph: the K/V copied out of the replay equal the eager recording.
    const recorded = unet.createKVCache(1, 1);
    for (let i = 0; i < 3; i++) {
      assertSameBits(await read(await unet.forward({ ...full(sets[0]), recordKV: { cache: recorded, step: 0, rows: [0] } })), want[0], `recording forward ${i}`);
    }
    assert.equal(recorded.bytes, cache.bytes);
    const s = unet.graphStats();
    t.diagnostic(`graphs ${s.graphs}, ${(s.bytes / 2 ** 20).toFixed(0)} MiB, ${s.operations} operations, captures ${s.captures}, replays ${s.replays}, eager ${s.eager}`);
    assert.equal(s.failures, 0, `recording failed: ${s.lastFailure}`);
    assert.deepEqual([s.graphs, s.captures, s.replays, s.eager], [3, 3, 4 + 3 + 2, 9 + 3], 'batch 3, refKV and recording keys: one eager forward each (after the 9 with graphs off), then replays');
    unet.cudaGraphs = false;
    for (const [k, d] of sets.entries()) assertSameBits(await read(await unet.forward(rest(d, recorded))), wantRest[k], `eager forward reading the graph-recorded K/V, input ${k}`);
    assert.deepEqual([unet.graphStats().graphs, unet.graphStats().bytes], [0, 0], 'turning graphs off drops them');
    cache.dispose();
    recorded.dispose();
  } finally {
    unet.dispose();
    engine.dispose();
  }
});

test('a signal is polled once before a replay, never inside it (a recording keeps no token); an aborted one stops the replay', { timeout: 300_000 }, () => graphsAvailable(async () => {
  const engine = new Engine({ backend });
  const unet = await UNet.load(engine, { dir: tinyDir });
  const sample = engine.tensor(xorshiftNoise(2 * 16 * 16 * 4, 1), [2, 16, 16, 4]);
  const context = engine.tensor(xorshiftNoise(2 * 77 * 32, 2), [2, 77, 32]);
  const forward = (signal) => unet.forward({ sample, context, timesteps: [500, 300], attention: { mode: 'stratified', ref: [-1, 0] }, signal });
  const polls = async (signal) => {
    const before = cancelChecks();
    const out = await read(await forward(signal));
    return { out, polls: cancelChecks() - before };
  };
  try {
    const eager = await polls(new AbortController().signal); // a new key: eager, one poll per block
    const levels = unet.config.block_out_channels.length;
    assert.equal(eager.polls, levels + 1 + unet.config.up_block_types.length);
    const recorded = await polls(new AbortController().signal); // recorded, then replayed
    const replayed = await polls(new AbortController().signal); // replayed
    assert.equal(recorded.polls, 1, 'recording: only the check before the replay');
    assert.equal(replayed.polls, 1, 'replay: only the check before it');
    assertSameBits(recorded.out, eager.out, 'recorded forward');
    assertSameBits(replayed.out, eager.out, 'replayed forward');
    await assert.rejects(forward(AbortSignal.abort()), (err) => err.code === 'ERR_INDETAIL_CANCELLED' && /^cancelled in UNet forward$/.test(err.message));
    const after = await polls(undefined);
    assert.equal(after.polls, 0, 'no signal, no polling');
    assertSameBits(after.out, eager.out, 'a replay after the aborted one');
    const s = unet.graphStats();
    assert.deepEqual([s.captures, s.replays, s.eager, s.failures], [1, 3, 1, 0]);
  } finally {
    sample.dispose();
    context.dispose();
    unet.dispose();
    engine.dispose();
  }
}));

test('turning graphs off: the cudaGraphs setter and INDETAIL_CUDA_GRAPHS=0 run every forward eagerly', { timeout: 300_000 }, () => graphsAvailable(async () => {
  const engine = new Engine({ backend });
  const unet = await UNet.load(engine, { dir: tinyDir });
  try {
    const args = () => ({ sample: engine.tensor(xorshiftNoise(2 * 16 * 16 * 4, 3), [2, 16, 16, 4]), context: engine.tensor(xorshiftNoise(2 * 77 * 32, 4), [2, 77, 32]), timesteps: 300 });
    const want = await read(await unet.forward(args()));
    for (let i = 0; i < 2; i++) assertSameBits(await read(await unet.forward(args())), want, 'graph');
    assert.deepEqual([unet.graphStats().graphs, unet.graphStats().replays], [1, 2]);
    unet.cudaGraphs = false;
    assert.deepEqual([unet.graphStats().graphs, unet.graphStats().bytes], [0, 0], 'the setter drops the graphs');
    for (let i = 0; i < 3; i++) assertSameBits(await read(await unet.forward(args())), want, 'eager');
    let s = unet.graphStats();
    assert.deepEqual([s.graphs, s.captures, s.replays, s.eager], [0, 1, 2, 4]);

    unet.cudaGraphs = true;
    if (gpu) {
      process.env.INDETAIL_CUDA_GRAPHS = '0';
      try {
        assert.equal(unet.graphStats().supported, false);
        assert.match(unet.graphStats().unsupportedReason ?? '', /INDETAIL_CUDA_GRAPHS=0/);
        for (let i = 0; i < 3; i++) assertSameBits(await read(await unet.forward(args())), want, 'eager (environment)');
        s = unet.graphStats();
        assert.deepEqual([s.graphs, s.captures, s.replays, s.eager], [0, 1, 2, 7]);
      } finally {
        delete process.env.INDETAIL_CUDA_GRAPHS;
      }
    }
    for (let i = 0; i < 2; i++) assertSameBits(await read(await unet.forward(args())), want, 'graphs back on');
    s = unet.graphStats();
    assert.deepEqual([s.graphs, s.captures, s.replays, s.eager, s.failures], [1, 2, 3, gpu ? 8 : 5, 0]);
  } finally {
    unet.dispose();
    engine.dispose();
  }
}));

// The call of test/golden/kinds/pipeline.mjs with a traced result.
async function runCase(pipe, c, g) {
  const trace = {};
  const { task, options } = pipelineCall(c, g, trace);
  await pipe[task](options);
  return trace;
}

// Every fixture root's model with pipeline cases (SD1.5, SD2.1 v-prediction, SDXL, ...).
test('pipeline cases: graphs on give the bits of graphs off (first call and cached call), and the goldens pass on CUDA', { timeout: 600_000 }, (t) => graphsAvailable(async () => {
  for (const root of goldenRoots().filter((r) => loadManifest(r).cases.some((x) => x.kind === 'pipeline'))) await graphPipelineCases(t, root);
}));

async function graphPipelineCases(t, root) {
  const manifest = loadManifest(root);
  const pipelineCases = manifest.cases.filter((x) => x.kind === 'pipeline');
  const model = modelDir({ root, manifest }, 'diffusers');
  // Without a GPU, on the CPU, emulated: the cases with a ControlNet, and the first case when there
  // are none or when the UNet takes added conditions (SDXL), so every kind of UNet input goes
  // through a graph's buffers.
  const added = JSON.parse(readFileSync(path.join(model, 'unet', 'config.json'), 'utf8')).addition_embed_type != null;
  const anyControl = pipelineCases.some((x) => x.parameters.controlnet);
  const cases = gpu ? pipelineCases : pipelineCases.filter((x, i) => x.parameters.controlnet || (i === 0 && (added || !anyControl)));
  for (const c of cases) {
    const g = await openSafetensors(path.join(root, c.file));
    const controlnet = c.parameters.controlnet ? { controlnet: path.join(root, c.parameters.controlnet) } : {};
    const on = await IndetailPipeline.load({ model, backend, ...controlnet });
    const off = await IndetailPipeline.load({ model, backend, cudaGraphs: false, ...controlnet });
    try {
      for (const call of ['first call', 'cached call']) {
        const a = await runCase(on, c, g);
        const b = await runCase(off, c, g);
        assert.equal(a.kvCache.status, call === 'first call' ? 'miss' : 'hit');
        a.stepLatents.forEach((z, i) => assertSameBits(z, b.stepLatents[i], `${c.name}, ${call}, step_latents[${i}]`));
        a.inversionLatents.forEach((z, i) => assertSameBits(z, b.inversionLatents[i], `${c.name}, ${call}, inversion_latents[${i}]`));
        assertSameBits(a.decoded, b.decoded, `${c.name}, ${call}, decoded`);
        assertSameBits(floatToU8(a.decoded), floatToU8(b.decoded), `${c.name}, ${call}, 8-bit`);
      }
      const s = on.parts.unet.graphStats();
      t.diagnostic(`${manifest.model} ${c.name}: graphs ${s.graphs} (${(s.bytes / 2 ** 20).toFixed(1)} MiB), captures ${s.captures}, replays ${s.replays}, eager ${s.eager}, failures ${s.failures}`);
      assert.equal(s.failures, 0, `${c.name}: recording failed: ${s.lastFailure}`);
      assert.ok(s.captures > 0 && s.replays > 0, `${c.name}: steps replayed graphs (${s.replays} replays, ${s.eager} eager)`);
      assert.equal(off.parts.unet.graphStats().replays, 0);
    } finally {
      on.dispose();
      off.dispose();
    }
    if (!gpu) continue; // the CPU golden suite runs the goldens eagerly

    const before = unetGraphTotals();
    const ctx = { root, manifest, file: path.join(root, c.file) };
    const { rows } = await runPipelineCase(c, ctx, { backend: 'cuda', bounds: { latents: { atol: 0.6, rtol: 0.02 }, decoded: { atol: 0.05, rtol: 0 }, u8: 8 } });
    const after = unetGraphTotals();
    const bad = rows.filter((r) => r.violations > 0);
    assert.equal(bad.length, 0, `${c.name} outside the fp16 bounds with graphs on: ${bad.map((r) => `${r.name} ${r.maxAbs.toExponential(2)}`).join('; ')}`);
    assert.ok(after.replays > before.replays, `${c.name}: the golden run replayed graphs`);
    assert.equal(after.failures, before.failures, `${c.name}: no recording failed`);
  }
}
