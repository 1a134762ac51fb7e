// The parts of serving that need no Redis: rendezvous hashing (against an independent
// computation), job parameter checks, tokens, the store's exactly-once result publication and
// its sweep, progress fractions, and the CLI's byte and duration arguments.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { parseBytes, parseDuration } from '../dist/cli/deployment.js';
import { JOB_OPTION_KEYS, parseJobParameters, rendezvousPick, Tokens } from '../dist/serve/index.js';
import { callOptions } from '../dist/serve/job-params.js';
import { jobProgress } from '../dist/serve/run-job.js';
import { Store } from '../dist/serve/store.js';

const dir = mkdtempSync(path.join(tmpdir(), 'indetail-serve-units-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function winner(key, ids) {
  // Highest random weight: the first 8 bytes of sha256(id, NUL, key) as an unsigned integer.
  const weight = (id) => createHash('sha256').update(`${id}\0${key}`).digest().readBigUInt64BE(0);
  return ids.reduce((best, id) => (weight(id) > weight(best) ? id : best));
}

test('rendezvous hashing: the highest weight wins, keys spread evenly, and only a leaving worker\'s keys move', () => {
  const ids = ['gpu0', 'gpu1', 'gpu2', 'gpu3'];
  const keys = Array.from({ length: 4000 }, (_, i) => createHash('sha256').update(`image ${i}`).digest('hex'));
  const counts = Object.fromEntries(ids.map((id) => [id, 0]));
  for (const k of keys) {
    const w = rendezvousPick(k, ids);
    assert.equal(w, winner(k, ids));
    assert.equal(rendezvousPick(k, [...ids].reverse()), w, 'the order of the workers does not matter');
    counts[w]++;
  }
  for (const id of ids) assert.ok(Math.abs(counts[id] - 1000) < 150, `${id} got ${counts[id]} of 4000 keys`);
  const without = ids.filter((id) => id !== 'gpu2');
  for (const k of keys) {
    const before = rendezvousPick(k, ids);
    const now = rendezvousPick(k, without);
    if (before !== 'gpu2') assert.equal(now, before, 'a key whose worker stays does not move');
  }
  assert.equal(rendezvousPick(keys[0], []), undefined);
});

test('job parameters: normalised, seed fixed at submission, errors name the field', () => {
  const p = parseJobParameters({ task: 'cross', prompt: 'an owl', steps: 3, size: { width: 64, height: 48 } }, { maxSamples: 8 });
  assert.equal(p.task, 'cross');
  assert.match(p.seed, /^\d+$/);
  assert.ok(Number(p.seed) < 2 ** 32);
  assert.deepEqual(Object.keys(p).sort(), ['prompt', 'seed', 'size', 'steps', 'task']);
  const big = parseJobParameters({ task: 'variation', prompt: 'x', seed: '18446744073709551615' }, { maxSamples: 8 });
  assert.equal(big.seed, '18446744073709551615');
  assert.equal(callOptions(big).seed, 18446744073709551615n);
  assert.equal(callOptions(parseJobParameters({ task: 'variation', prompt: 'x', seed: 42 }, { maxSamples: 8 })).seed, 42);
  assert.ok(JOB_OPTION_KEYS.includes('guidanceScale') && !JOB_OPTION_KEYS.includes('signal') && !JOB_OPTION_KEYS.includes('initialNoise'));
  const bad = [
    [{ task: 'variation', prompt: 'x', lambdaImage: 1000 }, /lambdaImage/],
    [{ task: 'variation', prompt: 'x', stratifiedSteps: -1 }, /stratifiedSteps/],
    [{ task: 'structure', prompt: 'x', controlScale: 11 }, /controlScale/],
    [{ task: 'variation', prompt: 'x', signal: {} }, /Unknown parameter "signal"/],
    [{ task: 'variation', prompt: 'x', samples: 9 }, /at most 8 for samples/],
    [null, /JSON object/],
  ];
  for (const [raw, message] of bad) {
    assert.throws(() => parseJobParameters(raw, { maxSamples: 8 }), (err) => err.code === 'ERR_INDETAIL_INVALID_ARGUMENT' && message.test(err.message));
  }
});

test('tokens: names, comments, the Bearer scheme, and refused weak tokens', async () => {
  const file = path.join(dir, 'tokens');
  writeFileSync(file, '# team tokens\nalice:aaaaaaaaaaaaaaaaaaaa\n\nbbbbbbbbbbbbbbbbbbbbbbbb\n');
  const t = await Tokens.fromFile(file);
  assert.equal(t.size, 2);
  assert.equal(t.check('Bearer aaaaaaaaaaaaaaaaaaaa'), 'alice');
  assert.equal(t.check('bearer aaaaaaaaaaaaaaaaaaaa'), 'alice');
  assert.equal(t.check('Bearer bbbbbbbbbbbbbbbbbbbbbbbb'), `token-${createHash('sha256').update('bbbbbbbbbbbbbbbbbbbbbbbb').digest('hex').slice(0, 8)}`);
  for (const h of [undefined, '', 'aaaaaaaaaaaaaaaaaaaa', 'Bearer aaaaaaaaaaaaaaaaaaab', 'Basic aaaaaaaaaaaaaaaaaaaa']) assert.equal(t.check(h), undefined);
  assert.throws(() => Tokens.fromEnv('bob:short', 'X'), /at least 16 characters/);
  assert.throws(() => Tokens.fromEnv('  ,# none', 'X'), /holds no token/);
  assert.throws(() => Tokens.fromEnv('bad name:cccccccccccccccccccc', 'X'), /token name/);
  await assert.rejects(Tokens.fromFile(path.join(dir, 'missing')), /cannot read the tokens file/);
});

test('store: inputs once per content, the first complete result set of a job id wins, the sweep honours expiry', async () => {
  const store = await Store.open(path.join(dir, 'store'));
  const bytes = Buffer.from('an image, as far as the store is concerned');
  const hash = await store.putInput(bytes);
  assert.equal(hash, createHash('sha256').update(bytes).digest('hex'));
  assert.equal(await store.putInput(bytes), hash);
  assert.deepEqual(readdirSync(store.inputs), [hash]);
  assert.deepEqual(await store.readInput(hash), bytes);
  await assert.rejects(store.readInput('0'.repeat(64)), (err) => err.code === 'ERR_INDETAIL_BAD_FILE' && /not in the store/.test(err.message));
  await assert.rejects(store.readInput('../etc/passwd'), /sha256/);
  assert.throws(() => store.resultDir('../../x'), /job id/);

  const id = '11111111-2222-4333-8444-555555555555';
  const result = (worker, expiresAt) => ({ id, task: 'variation', worker, frames: [1], parameters: {}, timings: {}, kvCache: 'miss', finishedAt: 0, expiresAt });
  assert.equal(await store.commitResult(result('first', Date.now() + 60_000), [{ frame: 1, png: Buffer.from('first run') }]), 'written');
  assert.equal(await store.commitResult(result('second', Date.now() + 60_000), [{ frame: 1, png: Buffer.from('second run') }]), 'kept');
  assert.equal(readFileSync(store.imageFile(id, 1), 'utf8'), 'first run');
  assert.equal((await store.readResult(id)).worker, 'first');
  assert.deepEqual(readdirSync(store.results), [id], 'no temporary directory is left behind');

  const old = Date.now() / 1000 - 7200;
  writeFileSync(path.join(store.inputs, 'a'.repeat(64)), 'unused for two hours');
  utimesSync(path.join(store.inputs, 'a'.repeat(64)), old, old);
  assert.deepEqual(await store.sweep(3600_000), { results: 0, inputs: 1, temporary: 0 });
  assert.ok(existsSync(path.join(store.inputs, hash)));
  assert.deepEqual(await store.sweep(3600_000, Date.now() + 120_000), { results: 1, inputs: 0, temporary: 0 });
  assert.equal(await store.readResult(id), undefined);
});

test('job progress: one unit per step, monotone, 1 at the end', () => {
  const steps = 3;
  const events = [['encode', 1, 1], ...[1, 2, 3].map((s) => ['inversion', s, steps]), ...[1, 2, 3].map((s) => ['denoise', s, steps]), ['decode', 1, 1]];
  const fractions = events.map(([phase, step, total]) => jobProgress({ phase, step, total, elapsed: 0 }, steps).fraction);
  assert.deepEqual(fractions, [1, 2, 3, 4, 5, 6, 7, 8].map((k) => k / 8));
});

test('CLI byte and duration arguments', () => {
  assert.equal(parseBytes('--x', '4000000'), 4_000_000);
  assert.equal(parseBytes('--x', '512MiB'), 512 * 2 ** 20);
  assert.equal(parseBytes('--x', '1.5g'), 1.5e9);
  assert.equal(parseBytes('--x', undefined), undefined);
  assert.throws(() => parseBytes('--cache-bytes', '4 parsecs'), /number of bytes .* for --cache-bytes/);
  assert.equal(parseDuration('--x', '30'), 30);
  assert.equal(parseDuration('--x', '500ms'), 0.5);
  assert.equal(parseDuration('--x', '24h'), 86400);
  assert.throws(() => parseDuration('--result-ttl', 'soon'), /duration .* for --result-ttl/);
});
