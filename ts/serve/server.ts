// `indetail serve` / createServer(): the HTTP front of a deployment (Fastify). It checks and
// queues jobs, reports their state and progress, serves their PNGs and metrics, and sweeps
// results past their time-to-live out of the store. It holds no job state of its own: any number
// of servers can share one Redis and one store.
import multipart from '@fastify/multipart';
import rateLimit from '@fastify/rate-limit';
import { Queue } from 'bullmq';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { pino, type Logger } from 'pino';
import { IndetailError } from '../errors.js';
import { EventHub } from './event-hub.js';
import { errorHandler, HttpError } from './http-error.js';
import type { JobEvent } from './job-data.js';
import { JobBook } from './jobs.js';
import { checkName, Keys } from './keys.js';
import { ServerMetrics, type Snapshot } from './metrics.js';
import { connectRedis } from './redis.js';
import { Registry } from './registry.js';
import { Router } from './router.js';
import { registerRoutes } from './routes.js';
import { Store } from './store.js';
import type { Tokens } from './auth.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The name of the request's bearer token ('anonymous' without authentication). */
    owner: string;
  }
}

export interface ServerOptions {
  /** redis://host:port[/db] */
  redis: string;
  /** The deployment's queue name (default 'indetail'); the workers must use the same. */
  queue?: string;
  /** The store directory shared with the workers. */
  store: string;
  /** Address to listen on (default 127.0.0.1). */
  host?: string;
  /** Port (default 8080; 0 picks a free one). */
  port?: number;
  /** Accepted bearer tokens. Required unless `insecureNoAuth`. */
  tokens?: Tokens;
  /** Serve without authentication (every request is 'anonymous'). */
  insecureNoAuth?: boolean;
  /** Largest uploaded file in bytes (default 20 MiB). */
  maxUploadBytes?: number;
  /** Largest width or height of an uploaded image (default 8192). */
  maxImageSide?: number;
  /** Largest width × height of an uploaded image (default 25,000,000). */
  maxImagePixels?: number;
  /** Most images one job may ask for (default 8). */
  maxSamples?: number;
  /** Seconds results are kept after a job ends (default 86400). */
  resultTtl?: number;
  /** Runs of a job before it fails for good when it keeps failing (default 3; bad input fails at once). */
  attempts?: number;
  /** Requests per token and minute: submissions and reads (default 120 and 1200); false: no limits. */
  rateLimit?: { submitPerMinute?: number; readPerMinute?: number } | false;
  /** Image-prompt affinity (default true). */
  affinity?: boolean;
  /** Jobs waiting in a worker's own queue from which on new jobs for it go to the shared queue (default 1). */
  affinityDepth?: number;
  logger?: Logger;
}

export interface IndetailServer {
  readonly app: FastifyInstance;
  readonly book: JobBook;
  readonly metrics: ServerMetrics;
  /** Starts listening; resolves to the base URL. */
  listen(): Promise<string>;
  /** Removes expired results and stale inputs now (it also runs periodically). */
  sweep(): Promise<void>;
  close(): Promise<void>;
}

function count(name: string, v: number | undefined, fallback: number, min: number): number {
  if (v === undefined) return fallback;
  if (!Number.isSafeInteger(v) || v < min) throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `Expected an integer of at least ${min} for ${name} but received ${v}`);
  return v;
}

export async function createServer(options: ServerOptions): Promise<IndetailServer> {
  const log = options.logger ?? pino({ name: 'indetail-serve' });
  if (!options.tokens && !options.insecureNoAuth) {
    throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', 'no bearer tokens: give a tokens file or variable, or explicitly allow unauthenticated access (insecureNoAuth)');
  }
  const keys = new Keys(checkName('the queue name', options.queue ?? 'indetail'));
  const resultTtl = count('resultTtl', options.resultTtl, 86400, 1);
  const maxUploadBytes = count('maxUploadBytes', options.maxUploadBytes, 20 * 1024 * 1024, 1);
  const limits = { maxSide: count('maxImageSide', options.maxImageSide, 8192, 1), maxPixels: count('maxImagePixels', options.maxImagePixels, 25_000_000, 1), maxSamples: count('maxSamples', options.maxSamples, 8, 1) };
  const rate = options.rateLimit === false ? undefined : { submit: count('rateLimit.submitPerMinute', options.rateLimit?.submitPerMinute, 120, 1), read: count('rateLimit.readPerMinute', options.rateLimit?.readPerMinute, 1200, 1) };
  const store = await Store.open(options.store);
  const redis = connectRedis(options.redis, 'server', log);
  const sub = connectRedis(options.redis, 'subscriber', log);
  const registry = new Registry(redis, keys);
  let book: JobBook | undefined;
  const queueOf = (name: string): Queue => book!.queue(name);
  const router = new Router(keys, registry, queueOf, { affinity: options.affinity ?? true, depth: count('affinityDepth', options.affinityDepth, 1, 1) });
  book = new JobBook(redis, keys, store, router, { attempts: count('attempts', options.attempts, 3, 1), resultTtl });
  const jobs = book;

  const snapshot = async (): Promise<Snapshot> => {
    const workers = await registry.list();
    const names = [keys.shared, ...workers.map((w) => w.info.queue)];
    const queues = await Promise.all(names.map(async (name) => ({ name, counts: await jobs.queue(name).getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed') })));
    return { queues, workers };
  };
  const metrics = new ServerMetrics(snapshot);
  const observe = (e: JobEvent) => {
    if (e.type !== 'completed' && e.type !== 'failed' && e.type !== 'cancelled') return;
    void jobs.find(e.id, undefined).then((found) => {
      const job = found?.job;
      if (!job) return;
      const task = job.name;
      metrics.finished.inc({ task, outcome: e.type });
      const end = job.finishedOn ?? Date.now();
      metrics.totalSeconds.observe({ task, outcome: e.type }, (end - job.timestamp) / 1000);
      if (job.processedOn) {
        metrics.queuedSeconds.observe({ task }, (job.processedOn - job.timestamp) / 1000);
        metrics.runSeconds.observe({ task }, (end - job.processedOn) / 1000);
      }
    }, () => {});
  };
  const hub = new EventHub(sub, keys, observe);
  await hub.start();

  const app = Fastify({ loggerInstance: log as FastifyBaseLogger, bodyLimit: 1024 * 1024 });
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send({ error: { code: 'NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}` } });
  });
  app.decorateRequest('owner', '');
  app.addHook('onRequest', async (request) => {
    if (request.url === '/healthz') return;
    if (options.insecureNoAuth) {
      request.owner = 'anonymous';
      return;
    }
    const owner = options.tokens!.check(request.headers.authorization);
    if (!owner) {
      metrics.refused.inc({ reason: 'unauthorized' });
      throw new HttpError(401, 'UNAUTHORIZED', request.headers.authorization ? 'the bearer token is not valid' : 'missing bearer token (send "Authorization: Bearer <token>")');
    }
    request.owner = owner;
  });
  await app.register(multipart, { limits: { fileSize: maxUploadBytes, files: 2, fields: 1, parts: 3, fieldSize: 64 * 1024, headerPairs: 100 } });
  if (rate) {
    await app.register(rateLimit, {
      global: false,
      hook: 'preHandler',
      keyGenerator: (request) => request.owner || request.ip,
      errorResponseBuilder: (_request, ctx) => new HttpError(ctx.statusCode, 'RATE_LIMITED', `rate limit of ${ctx.max} requests a minute for this token reached; retry in ${ctx.after}`),
    });
  }
  registerRoutes(app, { book: jobs, hub, metrics, registry, redis, limits, rate, eventPollSeconds: 2 });

  const sweep = async () => {
    const removed = await store.sweep(resultTtl * 1000);
    if (removed.results + removed.inputs + removed.temporary > 0) log.info(removed, 'swept expired results and inputs');
  };
  const sweeper = setInterval(() => sweep().catch((err) => log.warn({ err: (err as Error).message }, 'sweeping the store failed')), Math.min(60_000, Math.max(1000, (resultTtl * 1000) / 4)));
  sweeper.unref();

  let closed = false;
  return {
    app,
    book: jobs,
    metrics,
    sweep,
    async listen() {
      return app.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 8080 });
    },
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(sweeper);
      await app.close();
      await jobs.close();
      await sub.quit().catch(() => {});
      await redis.quit().catch(() => {});
    },
  };
}
