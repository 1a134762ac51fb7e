// End to end against a real Redis: `indetail serve` -> BullMQ -> two `indetail worker` processes
// on the tiny model (CPU) -> PNGs that are byte-identical to direct API calls with the same
// parameters; progress as server-sent events; cancellation of a queued and of a running job;
// metrics; SIGTERM (the running job finishes, or is handed back and adopted by the other worker).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { IndetailPipeline } from '../dist/index.js';
import { insertPngText } from '../dist/image/index.js';
import { rendezvousPick } from '../dist/serve/index.js';
import { TOKEN, cleanup, client, controlImage, inputImage, skipReason, startRedis, startServe, startWorker, tempDir, tinyControlNet, tinyModel, waitFor } from './helpers/serve.mjs';

const opts = { skip: skipReason, timeout: 90_000 };
const WORKERS = ['e2e-a', 'e2e-b'];
const fast = ['--heartbeat', '500ms', '--lock-duration', '3s', '--stalled-interval', '1s'];
let dir;
let redis;
let serve;
let workers;
let api;
let pipe;

// An image prompt with the same pixels whose bytes (hence hash) make rendezvous hashing pick `worker`.
function imageFor(worker) {
  const png = readFileSync(inputImage);
  for (let k = 0; ; k++) {
    const bytes = insertPngText(png, { variant: String(k) });
    if (rendezvousPick(createHash('sha256').update(bytes).digest('hex'), WORKERS) === worker) return bytes;
  }
}

before(async () => {
  if (skipReason) return;
  dir = tempDir('serve-e2e');
  redis = await startRedis(dir);
  const store = path.join(dir, 'store');
  [serve, ...workers] = await Promise.all([
    startServe({ redis: redis.url, store, dir }),
    startWorker({ redis: redis.url, store, id: WORKERS[0], dir, extra: [...fast, '--shutdown-grace', '60s'] }),
    startWorker({ redis: redis.url, store, id: WORKERS[1], dir, extra: [...fast, '--shutdown-grace', '100ms'] }),
  ]);
  api = client(serve.url);
  pipe = await IndetailPipeline.load({ model: tinyModel, controlnet: tinyControlNet, backend: 'cpu' });
});

after(async () => {
  if (skipReason) return;
  pipe?.dispose();
  for (const p of [serve, ...(workers ?? [])]) if (p && p.proc.exitCode === null) p.proc.kill('SIGKILL');
  await redis?.stop();
  cleanup(dir);
});

test('HTTP -> queue -> workers: PNGs byte-identical to direct API calls with the same seeds', opts, async () => {
  const control = readFileSync(controlImage);
  const cases = [
    { parameters: { task: 'variation', prompt: 'a photograph of a cat', steps: 2, size: 64, seed: 7, samples: 2 }, files: {} },
    { parameters: { task: 'variation', prompt: 'a photograph of a cat', steps: 2, size: 64, seed: 8, includeReconstruction: true }, files: {} },
    { parameters: { task: 'cross', prompt: 'an owl', steps: 2, size: 64, seed: '18446744073709551615', guidanceScale: 5 }, files: {} },
    { parameters: { task: 'structure', prompt: 'a penguin', steps: 2, size: 64, seed: 3 }, files: { control } },
  ];
  const submitted = await Promise.all(cases.map((c) => api.submit(c.parameters, c.files)));
  for (const r of submitted) assert.equal(r.status, 201, JSON.stringify(r.body));
  const done = await Promise.all(submitted.map((r) => api.waitState(r.body.id, ['completed', 'failed'])));
  const image = readFileSync(inputImage);
  for (let k = 0; k < cases.length; k++) {
    const status = done[k];
    assert.equal(status.state, 'completed', JSON.stringify(status));
    assert.ok(WORKERS.includes(status.worker));
    const { task, seed, ...options } = cases[k].parameters;
    const direct = await pipe[task]({ ...options, seed: typeof seed === 'string' ? BigInt(seed) : seed, image, ...(cases[k].files.control ? { control } : {}) });
    const expected = [...(direct.reconstruction ? [direct.reconstruction] : []), ...direct.images];
    assert.deepEqual(status.images, expected.map((i) => `/v1/jobs/${status.id}/images/${i.frame}`));
    for (const img of expected) {
      const got = await api.get(`/v1/jobs/${status.id}/images/${img.frame}`);
      assert.equal(got.status, 200);
      assert.equal(got.type, 'image/png');
      assert.ok(Buffer.compare(got.body, img.png) === 0, `${task} frame ${img.frame}: the served PNG differs from the direct API call`);
    }
  }
});

async function readEvents(url, id) {
  const res = await fetch(`${url}/v1/jobs/${id}/events`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^text\/event-stream/);
  const events = [];
  for (const block of (await res.text()).split('\n\n')) {
    const m = /^event: (\w+)\ndata: (.*)$/m.exec(block);
    if (m) events.push({ event: m[1], data: JSON.parse(m[2]) });
  }
  return events;
}

test('progress per step as server-sent events, ending with the completed state', opts, async () => {
  const r = await api.submit({ task: 'variation', prompt: 'a cat', steps: 12, size: 64, seed: 1 }, { image: imageFor(WORKERS[0]) });
  assert.equal(r.status, 201);
  const events = await readEvents(serve.url, r.body.id);
  const progress = events.filter((e) => e.event === 'progress').map((e) => e.data);
  const last = events.at(-1);
  assert.equal(last.event, 'state');
  assert.equal(last.data.state, 'completed');
  assert.ok(progress.length >= 5, `expected progress events, got ${JSON.stringify(events.map((e) => e.event))}`);
  const denoise = progress.filter((p) => p.phase === 'denoise');
  assert.ok(denoise.length >= 1 && denoise.every((p) => p.total === 12));
  for (let k = 1; k < progress.length; k++) assert.ok(progress[k].fraction >= progress[k - 1].fraction, 'progress never goes back');
  assert.equal(last.data.progress.fraction, 1);
});

test('DELETE cancels a queued job at once and a running job between steps; the workers carry on', opts, async () => {
  const long = { task: 'variation', prompt: 'a cat', steps: 400, size: 64 };
  // Both workers busy with a long job each, a third waits in the shared queue.
  const running = [];
  for (const w of WORKERS) running.push((await api.submit({ ...long, seed: running.length }, { image: imageFor(w) })).body.id);
  await Promise.all(running.map((id) => waitFor(`job ${id} running`, async () => (await api.status(id)).progress?.phase === 'inversion')));
  const queued = (await api.submit({ ...long, seed: 9 }, { image: imageFor(WORKERS[0]) })).body.id;
  assert.equal((await api.status(queued)).state, 'queued');
  const c1 = await api.del(`/v1/jobs/${queued}`);
  assert.deepEqual([c1.status, c1.body.state], [200, 'cancelled']);
  assert.equal((await api.status(queued)).state, 'cancelled');
  for (const id of running) {
    const c = await api.del(`/v1/jobs/${id}`);
    assert.deepEqual([c.status, c.body.state], [202, 'cancelling']);
  }
  const ended = await Promise.all(running.map((id) => api.waitState(id, ['cancelled', 'completed', 'failed'], 30_000)));
  for (const s of ended) {
    assert.equal(s.state, 'cancelled');
    assert.ok(s.progress.fraction < 1, 'cancelled before the end');
  }
  const again = await api.del(`/v1/jobs/${running[0]}`);
  assert.equal(again.status, 409);
  const next = await api.submit({ task: 'variation', prompt: 'a cat', steps: 1, size: 64, seed: 2 });
  assert.equal((await api.waitState(next.body.id, ['completed', 'failed'])).state, 'completed');
});

test('metrics: queue depth, job latency histograms, outcomes, per-worker steps/s and cache counters', opts, async () => {
  const m = await api.get('/metrics');
  assert.equal(m.status, 200);
  const text = m.body.toString();
  const value = (re) => {
    const line = text.split('\n').find((l) => re.test(l));
    assert.ok(line, `no metric matching ${re}`);
    return Number(line.split(' ').at(-1));
  };
  assert.equal(value(/^indetail_workers\{state="alive"\}/), 2);
  assert.ok(value(/^indetail_jobs_finished_total\{task="variation",outcome="completed"\}/) >= 3);
  assert.ok(value(/^indetail_jobs_finished_total\{task="variation",outcome="cancelled"\}/) >= 2);
  assert.ok(value(/^indetail_job_seconds_count\{task="variation",outcome="completed"\}/) >= 3);
  assert.ok(value(/^indetail_enqueue_seconds_count/) >= 8);
  assert.ok(value(new RegExp(`^indetail_worker_steps_per_second\\{worker="${WORKERS[0]}"\\}`)) > 0);
  assert.ok(value(new RegExp(`^indetail_worker_jobs_completed\\{worker="${WORKERS[0]}"\\}`)) >= 1);
  assert.match(text, /^indetail_queue_jobs\{queue="indetail",state="waiting"\} 0$/m);
  assert.match(text, /^indetail_worker_kv_cache_hits\{worker="e2e-a"\} \d+$/m);
  const unauth = await fetch(`${serve.url}/metrics`);
  assert.equal(unauth.status, 401);
  const health = await (await fetch(`${serve.url}/healthz`)).json();
  assert.deepEqual(health, { status: 'ok', redis: 'up', workers: { alive: 2, registered: 2 } });
});

test('SIGTERM: a worker hands its job back after the grace period and the other adopts it; a worker with time finishes its job', opts, async () => {
  const [a, b] = workers;
  const long = { task: 'variation', prompt: 'a cat', size: 64 };
  const onB = (await api.submit({ ...long, steps: 40, seed: 11 }, { image: imageFor(WORKERS[1]) })).body.id;
  await waitFor('the job on e2e-b to run', async () => (await api.status(onB)).progress?.phase === 'inversion');
  b.proc.kill('SIGTERM');
  assert.deepEqual(await b.exited, { code: 0, signal: null });
  const handedBack = await api.waitState(onB, ['completed', 'failed'], 60_000);
  assert.equal(handedBack.state, 'completed');
  assert.equal(handedBack.worker, WORKERS[0], 'the job in the stopped worker\'s queue was adopted');
  assert.equal(handedBack.attempts, 2);

  const onA = (await api.submit({ ...long, steps: 30, seed: 12 }, { image: imageFor(WORKERS[0]) })).body.id;
  await waitFor('the job on e2e-a to run', async () => (await api.status(onA)).progress?.phase === 'inversion');
  a.proc.kill('SIGTERM');
  assert.deepEqual(await a.exited, { code: 0, signal: null });
  const finished = await api.status(onA);
  assert.deepEqual([finished.state, finished.worker, finished.attempts], ['completed', WORKERS[0], 1]);
  const stopping = a.logs().map((l) => l.msg);
  assert.ok(stopping.indexOf('worker stopping: no new jobs') < stopping.lastIndexOf('job completed'), 'the job completed after SIGTERM');
});
