// Bad input against a real Redis and a worker: malformed multipart, oversize or corrupt images,
// bad parameters, unknown job ids, missing or wrong tokens, cancelling a finished job, rate
// limits. Each gets a clean 4xx with a message naming the problem, nothing is queued for it, and
// the service stays up. Also: results past their time-to-live are gone.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import sharp from 'sharp';
import { createServer, Tokens } from '../dist/serve/index.js';
import { OTHER_TOKEN, TOKEN, TOKENS, cleanup, client, controlImage, inputImage, skipReason, startRedis, startWorker, tempDir, waitFor } from './helpers/serve.mjs';

const opts = { skip: skipReason, timeout: 60_000 };
const SUBMIT_LIMIT = 40;
let dir;
let store;
let redis;
let worker;
let server;
let base;
let api;
let accepted = 0;

const logger = () => pino({ level: 'warn' }, pino.destination(path.join(dir, 'server.log')));

before(async () => {
  if (skipReason) return;
  dir = tempDir('serve-bad-input');
  store = path.join(dir, 'store');
  redis = await startRedis(dir);
  worker = await startWorker({ redis: redis.url, store, id: 'bad-input-w', dir, extra: ['--heartbeat', '500ms'] });
  server = await createServer({
    redis: redis.url,
    store,
    port: 0,
    tokens: Tokens.fromEnv(TOKENS, 'TOKENS'),
    maxUploadBytes: 100_000,
    maxImageSide: 256,
    maxImagePixels: 200 * 200,
    maxSamples: 4,
    rateLimit: { submitPerMinute: SUBMIT_LIMIT, readPerMinute: 10_000 },
    logger: logger(),
  });
  base = await server.listen();
  api = client(base);
});

after(async () => {
  if (skipReason) return;
  await server?.close();
  if (worker && worker.proc.exitCode === null) worker.proc.kill('SIGKILL');
  await redis?.stop();
  cleanup(dir);
});

const good = { task: 'variation', prompt: 'a cat', steps: 1, size: 64, seed: 1 };

function assertRefused(r, status, code, message) {
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.equal(r.body.error.code, code, JSON.stringify(r.body));
  assert.match(r.body.error.message, message);
}

async function raw(pathname, init) {
  const res = await fetch(`${base}${pathname}`, init);
  return { status: res.status, body: await res.json() };
}

test('missing, wrong or malformed tokens: 401, and another token never sees a job', opts, async () => {
  assertRefused(await client(base, null).submit(good), 401, 'UNAUTHORIZED', /missing bearer token/);
  assertRefused(await client(base, 'not-a-known-token-0000000').submit(good), 401, 'UNAUTHORIZED', /not valid/);
  assertRefused(await raw('/v1/jobs/x', { headers: { authorization: `Basic ${Buffer.from(`a:${TOKEN}`).toString('base64')}` } }), 401, 'UNAUTHORIZED', /not valid/);
  const r = await api.submit(good);
  assert.equal(r.status, 201);
  accepted++;
  const other = client(base, OTHER_TOKEN);
  assertRefused(await other.get(`/v1/jobs/${r.body.id}`), 404, 'UNKNOWN_JOB', /unknown id, another token's job/);
  assertRefused(await other.del(`/v1/jobs/${r.body.id}`), 404, 'UNKNOWN_JOB', /no job/);
  assert.equal((await api.waitState(r.body.id, ['completed', 'failed'])).state, 'completed');
});

test('malformed bodies: not multipart, broken multipart, missing or repeated parts, unknown fields', opts, async () => {
  const auth = { authorization: `Bearer ${TOKEN}` };
  assertRefused(await raw('/v1/jobs', { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(good) }), 415, 'NOT_MULTIPART', /multipart\/form-data/);
  const truncated = '--XYZ\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n\x89PNG';
  assertRefused(await raw('/v1/jobs', { method: 'POST', headers: { ...auth, 'content-type': 'multipart/form-data; boundary=XYZ' }, body: truncated }), 400, 'BAD_MULTIPART', /malformed multipart body/);
  assertRefused(await raw('/v1/jobs', { method: 'POST', headers: { ...auth, 'content-type': 'multipart/form-data' }, body: 'hello' }), 400, 'BAD_MULTIPART', /malformed multipart body/);
  assertRefused(await api.submit(good, { image: null }), 400, 'MISSING_IMAGE', /"image"/);
  assertRefused(await api.submit(undefined), 400, 'MISSING_PARAMETERS', /"parameters"/);
  assertRefused(await api.submit('{"task": "variation",'), 400, 'BAD_PARAMETERS', /not valid JSON/);
  const form = new FormData();
  form.append('image', new Blob([readFileSync(inputImage)]), 'a.png');
  form.append('mask', new Blob([readFileSync(inputImage)]), 'b.png');
  form.append('parameters', JSON.stringify(good));
  assertRefused(await raw('/v1/jobs', { method: 'POST', headers: auth, body: form }), 400, 'BAD_MULTIPART', /unknown file field "mask"/);
  const twice = new FormData();
  twice.append('image', new Blob([readFileSync(inputImage)]), 'a.png');
  twice.append('image', new Blob([readFileSync(inputImage)]), 'b.png');
  twice.append('parameters', JSON.stringify(good));
  assertRefused(await raw('/v1/jobs', { method: 'POST', headers: auth, body: twice }), 400, 'BAD_MULTIPART', /appears twice/);
});

test('oversize, corrupt, unsupported and non-image uploads', opts, async () => {
  const big = Buffer.alloc(150_000, 7);
  const r = await api.submit(good, { image: big });
  assert.equal(r.status, 413, JSON.stringify(r.body));
  assert.match(r.body.error.message, /file too large|limit/i);
  const wide = await sharp({ create: { width: 300, height: 100, channels: 3, background: '#808080' } }).png().toBuffer();
  assertRefused(await api.submit(good, { image: wide }), 413, 'IMAGE_TOO_LARGE', /"image" is 300x100, above the limits \(256 pixels a side, 40000 pixels in all\)/);
  const many = await sharp({ create: { width: 250, height: 250, channels: 3, background: '#808080' } }).png().toBuffer();
  assertRefused(await api.submit(good, { image: many }), 413, 'IMAGE_TOO_LARGE', /250x250/);
  const png = readFileSync(inputImage);
  assertRefused(await api.submit(good, { image: png.subarray(0, png.length / 2) }), 400, 'ERR_INDETAIL_BAD_FILE', /"image" is corrupt or truncated/);
  assertRefused(await api.submit(good, { image: Buffer.from('this is not an image at all') }), 400, 'ERR_INDETAIL_BAD_FILE', /"image" is not a readable image/);
  const gif = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } }).gif().toBuffer();
  assertRefused(await api.submit(good, { image: gif }), 400, 'ERR_INDETAIL_UNSUPPORTED', /GIF format; supported formats are PNG, JPEG, WebP and TIFF/);
  assertRefused(await api.submit({ ...good, task: 'structure' }, { control: png.subarray(0, 100) }), 400, 'ERR_INDETAIL_BAD_FILE', /"control"/);
});

test('bad parameters get a 400 naming the field, through the library\'s own validation', opts, async () => {
  const cases = [
    [{ ...good, task: 'upscale' }, /for task but received "upscale"/],
    [{ ...good, task: undefined }, /for task but received undefined/],
    [{ ...good, prompt: undefined }, /Expected a string for prompt/],
    [{ ...good, steps: 0 }, /integer between 1 and 1000 for steps but received 0/],
    [{ ...good, steps: '10' }, /for steps but received "10"/],
    [{ ...good, samples: 5 }, /at most 4 for samples/],
    [{ ...good, samples: 1.5 }, /for samples but received 1.5/],
    [{ ...good, guidanceScale: -1 }, /guidanceScale/],
    [{ ...good, guidanceMode: 'both' }, /'conflict-free', 'conflicting' for guidanceMode but received "both"/],
    [{ ...good, attention: 'flash' }, /for attention but received "flash"/],
    [{ ...good, size: 65 }, /Invalid size/],
    [{ ...good, seed: -1 }, /for seed but received -1/],
    [{ ...good, seed: '99999999999999999999999' }, /below 2\^64/],
    [{ ...good, includeReconstruction: 'yes' }, /boolean for includeReconstruction/],
    [{ ...good, initialNoise: [1, 2] }, /Unknown parameter "initialNoise"/],
    [{ ...good, image: 'cat.png' }, /image is not a parameter: send it as a multipart file field named "image"/],
    [[good], /JSON object/],
    ['"variation"', /JSON object/],
  ];
  for (const [parameters, message] of cases) {
    const r = await api.submit(typeof parameters === 'string' ? parameters : parameters);
    assert.equal(r.status, 400, `${JSON.stringify(parameters)} -> ${r.status} ${JSON.stringify(r.body)}`);
    assert.match(r.body.error.message, message, JSON.stringify(parameters));
  }
  const control = readFileSync(controlImage);
  assertRefused(await api.submit({ ...good, task: 'structure' }), 400, 'MISSING_CONTROL', /needs the file field "control"/);
  assertRefused(await api.submit(good, { control }), 400, 'UNEXPECTED_CONTROL', /only used by structure-guided jobs/);
  assertRefused(await api.submit(good, { headers: { 'idempotency-key': 'x'.repeat(201) } }), 400, 'BAD_IDEMPOTENCY_KEY', /1 to 200 characters/);
});

test('unknown job ids, unknown images, unknown routes, cancelling a finished job', opts, async () => {
  for (const id of ['00000000-0000-4000-8000-000000000000', 'nope', '..%2F..%2Fetc%2Fpasswd', 'k' + '0'.repeat(32)]) {
    assertRefused(await api.get(`/v1/jobs/${id}`), 404, 'UNKNOWN_JOB', /no job/);
    assertRefused(await api.get(`/v1/jobs/${id}/images/1`), 404, 'UNKNOWN_JOB', /no job/);
    assertRefused(await api.get(`/v1/jobs/${id}/events`), 404, 'UNKNOWN_JOB', /no job/);
    assertRefused(await api.del(`/v1/jobs/${id}`), 404, 'UNKNOWN_JOB', /no job/);
  }
  assertRefused(await api.get('/v1/nothing'), 404, 'NOT_FOUND', /no route GET \/v1\/nothing/);
  const r = await api.submit(good);
  accepted++;
  const done = await api.waitState(r.body.id, ['completed', 'failed']);
  assert.equal(done.state, 'completed');
  assertRefused(await api.del(`/v1/jobs/${r.body.id}`), 409, 'ALREADY_FINISHED', /already finished/);
  for (const n of ['2', '0', 'x', '-1', '1.0']) assertRefused(await api.get(`/v1/jobs/${r.body.id}/images/${n}`), 404, 'UNKNOWN_IMAGE', /has no image .*; it has 1/);
  assert.equal((await api.get(`/v1/jobs/${r.body.id}/images/1`)).status, 200);
});

test('per-token rate limit: 429 for that token only', opts, async () => {
  const bob = client(base, OTHER_TOKEN);
  let last;
  for (let k = 0; k <= SUBMIT_LIMIT; k++) last = await bob.submit({ ...good, steps: 0 });
  assertRefused(last, 429, 'RATE_LIMITED', new RegExp(`rate limit of ${SUBMIT_LIMIT} requests a minute`));
  const other = await api.get('/v1/jobs/00000000-0000-4000-8000-000000000000');
  assert.equal(other.status, 404, 'alice is not limited by bob');
});

test('nothing was queued for the refused requests, and the service is still up', opts, async () => {
  const metrics = (await api.get('/metrics')).body.toString();
  const submitted = metrics.split('\n').filter((l) => l.startsWith('indetail_jobs_submitted_total{')).reduce((s, l) => s + Number(l.split(' ').at(-1)), 0);
  assert.equal(submitted, accepted);
  const health = await (await fetch(`${base}/healthz`)).json();
  assert.equal(health.status, 'ok');
  const r = await api.submit({ ...good, seed: 5 });
  assert.equal((await api.waitState(r.body.id, ['completed', 'failed'])).state, 'completed');
  assert.equal(worker.proc.exitCode, null);
});

test('results expire after their time-to-live', opts, async () => {
  const short = await createServer({ redis: redis.url, store, port: 0, tokens: Tokens.fromEnv(TOKENS, 'TOKENS'), resultTtl: 1, logger: logger() });
  try {
    const c = client(await short.listen());
    const r = await c.submit({ ...good, seed: 6 });
    const done = await c.waitState(r.body.id, ['completed', 'failed']);
    assert.equal(done.state, 'completed');
    assert.ok(Date.parse(done.expiresAt) - Date.parse(done.finishedAt) <= 1100);
    await waitFor('the results to expire', async () => (await c.get(`/v1/jobs/${r.body.id}`)).status === 404, 10_000);
    assertRefused(await c.get(`/v1/jobs/${r.body.id}/images/1`), 404, 'UNKNOWN_JOB', /expired/);
    await short.sweep();
    assert.ok(!existsSync(path.join(store, 'results', r.body.id)), 'the sweep removed the files');
  } finally {
    await short.close();
  }
});
