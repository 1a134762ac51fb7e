// Faults against a real Redis: 100 jobs across 3 worker processes; one worker is killed with
// SIGKILL in the middle of a job and Redis is killed and restarted once while jobs are being
// submitted and run. Submissions that meet the outage are retried with an Idempotency-Key, as a
// client would. Every job must complete exactly once: one result set per job id, each holding the
// images of that job's own parameters, no extra jobs, nothing left waiting, running or failed.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Queue } from 'bullmq';
import { pino } from 'pino';
import { insertPngText, readPngText } from '../dist/image/index.js';
import { createServer, Tokens } from '../dist/serve/index.js';
import { TOKENS, cleanup, client, inputImage, skipReason, sleep, startRedis, startWorker, tempDir, waitFor } from './helpers/serve.mjs';

const JOBS = 100;
const WORKERS = ['fault-1', 'fault-2', 'fault-3'];
const recovery = ['--heartbeat', '500ms', '--lock-duration', '2s', '--stalled-interval', '1s', '--max-stalled', '20'];
let dir;
let store;
let redis;
let server;
let workers;
let api;

before(async () => {
  if (skipReason) return;
  dir = tempDir('serve-faults');
  store = path.join(dir, 'store');
  redis = await startRedis(dir);
  workers = await Promise.all(WORKERS.map((id) => startWorker({ redis: redis.url, store, id, dir, extra: recovery })));
  server = await createServer({ redis: redis.url, store, port: 0, tokens: Tokens.fromEnv(TOKENS, 'TOKENS'), rateLimit: false, logger: pino({ level: 'warn' }, pino.destination(path.join(dir, 'server.log'))) });
  api = client(await server.listen());
});

after(async () => {
  if (skipReason) return;
  await server?.close();
  for (const w of workers ?? []) if (w.proc.exitCode === null) w.proc.kill('SIGKILL');
  await redis?.stop();
  cleanup(dir);
});

let refusedWhileRedisWasDown = 0;

/** POST until it is accepted: a 503 (Redis away) is retried with the same Idempotency-Key. */
async function submitRetrying(parameters, image, key) {
  const end = Date.now() + 60_000;
  for (;;) {
    const r = await api.submit(parameters, { image, key });
    if (r.status === 201 || r.status === 200) return r.body.id;
    assert.equal(r.status, 503, JSON.stringify(r.body));
    assert.equal(r.body.error.code, 'QUEUE_UNAVAILABLE');
    assert.ok(Date.now() < end, `submission ${key} still refused after 60 s`);
    refusedWhileRedisWasDown++;
    await sleep(100);
  }
}

test('100 jobs, 3 workers, kill -9 of a worker mid-job and a Redis restart: every job completes exactly once', { skip: skipReason, timeout: 240_000 }, async () => {
  const png = readFileSync(inputImage);
  const images = Array.from({ length: 5 }, (_, k) => insertPngText(png, { variant: String(k) }));
  const jobs = Array.from({ length: JOBS }, (_, i) => ({ key: `job-${i}`, image: images[i % 5], parameters: { task: 'variation', prompt: `a cat number ${i}`, steps: 1, size: 64, seed: i } }));
  // The last job repeats the first one's parameters under another key: same bytes expected.
  jobs[JOBS - 1] = { ...jobs[0], key: `job-${JOBS - 1}` };

  // A longer job to kill a worker in the middle of.
  const long = await submitRetrying({ task: 'variation', prompt: 'a long one', steps: 40, size: 64, seed: 1000 }, images[0], 'long');
  const running = await waitFor('the long job to run', async () => {
    const s = await api.status(long);
    return s.state === 'running' && s.progress && s.worker ? s : undefined;
  });
  const victim = workers[WORKERS.indexOf(running.worker)];
  victim.proc.kill('SIGKILL');
  assert.equal((await victim.exited).signal, 'SIGKILL');

  // Submit everything (8 clients at a time) and restart Redis once in the middle of it.
  const ids = new Array(JOBS);
  let next = 0;
  let restarted;
  const submitter = async () => {
    while (next < JOBS) {
      const i = next++;
      if (i === 40) restarted = redis.restart(300);
      ids[i] = await submitRetrying(jobs[i].parameters, jobs[i].image, jobs[i].key);
    }
  };
  await Promise.all(Array.from({ length: 8 }, submitter));
  await restarted;
  assert.ok(refusedWhileRedisWasDown > 0, 'the restart happened while jobs were being submitted');
  assert.equal(new Set(ids).size, JOBS, 'one job per idempotency key');
  // A repeated submission of an accepted key returns the same job.
  const again = await api.submit(jobs[3].parameters, { image: jobs[3].image, key: jobs[3].key });
  assert.deepEqual([again.status, again.body.id], [200, ids[3]]);

  const all = [...ids, long];
  const statuses = await Promise.all(all.map((id) => api.waitState(id, ['completed', 'failed', 'cancelled'], 180_000)));
  for (const s of statuses) assert.equal(s.state, 'completed', JSON.stringify(s));

  // The killed job ran again elsewhere.
  const recovered = statuses.at(-1);
  assert.ok(recovered.attempts >= 2, `the killed job was started ${recovered.attempts} time(s)`);
  assert.notEqual(recovered.worker, running.worker);

  // Exactly one result set per job id, and nothing else in the store.
  const dirs = readdirSync(path.join(store, 'results')).filter((n) => !n.startsWith('.'));
  assert.deepEqual(dirs.sort(), [...all].sort());
  for (let i = 0; i < JOBS; i++) {
    const result = JSON.parse(readFileSync(path.join(store, 'results', ids[i], 'result.json'), 'utf8'));
    assert.equal(result.id, ids[i]);
    assert.deepEqual(result.frames, [1]);
    assert.equal(result.parameters.seed, String(jobs[i].parameters.seed));
    assert.equal(result.parameters.prompt, jobs[i].parameters.prompt);
    const file = path.join(store, 'results', ids[i], '1.png');
    const text = await readPngText(file);
    assert.deepEqual(JSON.parse(text.parameters), result.parameters, `job ${i}: the PNG holds its own job's parameters`);
    assert.ok(!existsSync(path.join(store, 'results', ids[i], '2.png')));
  }
  const first = readFileSync(path.join(store, 'results', ids[0], '1.png'));
  const repeat = readFileSync(path.join(store, 'results', ids[JOBS - 1], '1.png'));
  assert.ok(first.equals(repeat), 'the same parameters give the same bytes on any worker');

  // No job was created twice, and nothing is left waiting, running, delayed or failed (in any queue: the shared one and each worker's).
  const queues = ['indetail', ...WORKERS.map((w) => `indetail.w.${w}`)].map((name) => new Queue(name, { connection: { host: '127.0.0.1', port: redis.port } }));
  try {
    const counts = await Promise.all(queues.map((q) => q.getJobCounts('completed', 'waiting', 'active', 'delayed', 'prioritized', 'failed')));
    const total = (state) => counts.reduce((s, c) => s + c[state], 0);
    assert.equal(total('completed'), JOBS + 1);
    for (const state of ['waiting', 'active', 'delayed', 'prioritized', 'failed']) assert.equal(total(state), 0, `${state} jobs left`);
  } finally {
    await Promise.all(queues.map((q) => q.close()));
  }
});
