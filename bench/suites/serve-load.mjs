// Serving at scale, measured on this machine against a real Redis (started here):
//  1. enqueue: POST /v1/jobs to an `indetail serve` process (20 distinct image prompts, no
//     workers), 50 one at a time and 200 concurrent: latency p50 / p99 / max per submission,
//     submissions per second, and the server's CPU seconds;
//  2. image-prompt affinity: 3 CPU workers on the tiny model, each with a K/V cache that holds
//     about 10 image prompts (30 together), a workload of 24 image prompts × 4 jobs in random
//     order (the first job of each prompt cannot hit: at most 75 % hits), kept at 3 jobs in flight; the cache hit rate, throughput and latency with affinity on
//     and off.
// Needs redis-server (Debian package). Run by name: node bench/run.mjs serve-load [--quick].
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { IndetailPipeline } from '../../dist/index.js';
import { encodePng, readImage } from '../../dist/image/index.js';
import { client, inputImage, redisServer, startRedis, startServe, startWorker, tinyModel } from '../lib/serve-stack.mjs';

export const name = 'serve-load';
export const description = 'serving: enqueue latency and throughput (200 concurrent submissions); K/V cache hit rate with image-prompt affinity on / off';
export const explicitOnly = true;

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in clock ticks (USER_HZ = 100)
}

/** `count` image prompts with different pixels (the K/V cache keys on pixels, affinity on file bytes). */
async function variants(count) {
  const rgb = await readImage(inputImage);
  return Promise.all(Array.from({ length: count }, (_, k) => {
    const data = Uint8Array.from(rgb.data);
    data[k] ^= 0xff;
    return encodePng(data, rgb.width, rgb.height);
  }));
}

async function timeSubmissions(api, images, count, concurrency, offset) {
  const latencies = [];
  let next = 0;
  const t0 = performance.now();
  const client = async () => {
    while (next < count) {
      const i = offset + next++;
      const t = performance.now();
      const r = await api.submit({ task: 'variation', prompt: `job ${i}`, steps: 1, size: 64, seed: i }, { image: images[i % images.length] });
      if (r.status !== 201) throw new Error(`submission ${i}: ${r.status} ${JSON.stringify(r.body)}`);
      latencies.push(performance.now() - t);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, client));
  const wall = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  return { submissions: count, 'wall s': wall, 'jobs/s': count / wall, 'p50 ms': quantile(latencies, 0.5), 'p99 ms': quantile(latencies, 0.99), 'max ms': latencies.at(-1) };
}

/** POST /v1/jobs to an `indetail serve` process without workers: one at a time, then `concurrent` at once. */
async function enqueueLoad(redis, dir, concurrent) {
  const serve = await startServe({ redis: redis.url, store: path.join(dir, 'store-enqueue'), dir, extra: ['--queue', 'bench-enqueue', '--no-rate-limit'] });
  try {
    const api = client(serve.url);
    const images = await variants(20);
    await timeSubmissions(api, images, 20, 1, 0); // warm-up; stores the 20 images
    const rows = [];
    for (const [label, count, concurrency] of [['enqueue, one at a time', 50, 1], [`enqueue, ${concurrent} concurrent`, concurrent, concurrent]]) {
      const cpu0 = cpuSeconds(serve.pid);
      const row = await timeSubmissions(api, images, count, concurrency, 1000 * (rows.length + 1));
      rows.push({ case: label, ...row, 'serve CPU s': cpuSeconds(serve.pid) - cpu0 });
    }
    return rows;
  } finally {
    serve.proc.kill('SIGTERM');
    await serve.exited;
  }
}

/** Bytes of one cache entry of the workload's jobs (tiny model, 64×64, `steps`), measured with the library. */
async function entryBytes(steps) {
  const pipe = await IndetailPipeline.load({ model: tinyModel, backend: 'cpu' });
  try {
    const r = await pipe.variation({ image: readFileSync(inputImage), prompt: 'a cat', steps, size: 64, seed: 1 });
    return r.kvCache.entryBytes;
  } finally {
    pipe.dispose();
  }
}

function shuffled(list, seed) {
  const out = [...list];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

async function affinityRun(redis, dir, affinity, { prompts, repeats, steps, cacheBytes }) {
  const queue = `bench-affinity-${affinity ? 'on' : 'off'}`;
  const store = path.join(dir, `store-${queue}`);
  const extra = ['--queue', queue, '--cache-bytes', String(cacheBytes)];
  const workers = await Promise.all([1, 2, 3].map((k) => startWorker({ redis: redis.url, store, dir, id: `${queue}-${k}`, extra })));
  const serve = await startServe({ redis: redis.url, store, dir, extra: ['--queue', queue, '--no-rate-limit', ...(affinity ? [] : ['--no-affinity'])] });
  try {
    const api = client(serve.url);
    const images = await variants(prompts);
    const work = shuffled(Array.from({ length: prompts * repeats }, (_, i) => i % prompts), 7);
    let next = 0;
    const latencies = [];
    const cache = { hit: 0, miss: 0 };
    const t0 = performance.now();
    const runner = async () => {
      while (next < work.length) {
        const i = next++;
        const t = performance.now();
        const r = await api.submit({ task: 'variation', prompt: 'a cat', steps, size: 64, seed: i }, { image: images[work[i]] });
        const s = await api.waitState(r.body.id, ['completed', 'failed'], 120_000);
        if (s.state !== 'completed') throw new Error(`job ${i} ${s.state}: ${s.error}`);
        latencies.push(performance.now() - t);
        cache[s.kvCache]++;
      }
    };
    await Promise.all([runner(), runner(), runner()]);
    const wall = (performance.now() - t0) / 1000;
    latencies.sort((a, b) => a - b);
    const metrics = (await api.get('/metrics')).body.toString();
    const routed = Object.fromEntries([...metrics.matchAll(/^indetail_jobs_submitted_total\{task="variation",route="([a-z-]+)"\} (\d+)$/gm)].map((m) => [m[1], Number(m[2])]));
    return { affinity: affinity ? 'on' : 'off', routes: Object.entries(routed).map(([r, n]) => `${r} ${n}`).join(', '), jobs: work.length, 'cache hits': cache.hit, 'hit rate %': (100 * cache.hit) / work.length, 'wall s': wall, 'jobs/s': work.length / wall, 'p50 ms': quantile(latencies, 0.5), 'p99 ms': quantile(latencies, 0.99) };
  } finally {
    for (const p of [serve, ...workers]) p.proc.kill('SIGTERM');
    await Promise.all([serve, ...workers].map((p) => p.exited));
  }
}

export async function run({ quick = false } = {}) {
  if (!redisServer) return { skipped: 'redis-server is not installed (apt-get install redis-server)' };
  const dir = mkdtempSync(path.join(tmpdir(), 'indetail-bench-serve-'));
  const redis = await startRedis(dir);
  try {
    const load = await enqueueLoad(redis, dir, 200);
    const steps = quick ? 2 : 4;
    const entry = await entryBytes(steps);
    const cacheBytes = Math.floor(10.5 * entry);
    const workload = { prompts: 24, repeats: quick ? 2 : 4, steps, cacheBytes };
    const on = await affinityRun(redis, dir, true, workload);
    const off = await affinityRun(redis, dir, false, workload);
    return {
      rows: [
        ...load,
        { case: 'affinity on', ...on },
        { case: 'affinity off', ...off },
      ],
      columns: ['case', 'submissions', 'jobs', 'wall s', 'jobs/s', 'p50 ms', 'p99 ms', 'max ms', 'serve CPU s', 'cache hits', 'hit rate %', 'routes'],
      notes: [
        'enqueue: client and server on this machine; latency per POST (multipart upload of a 32 KB PNG, image decode check, store, route, queue); no workers',
        `affinity: 3 CPU workers (tiny model, 64×64, ${steps} steps), K/V cache ${cacheBytes} bytes each (≈10.5 entries of ${entry} bytes), ${workload.prompts} image prompts × ${workload.repeats} jobs in random order, 3 jobs in flight`,
        'wall-clock figures on a shared machine are noisy; the hit rates are counts',
      ],
    };
  } finally {
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
