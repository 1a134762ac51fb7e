// The HTTP API (see the README's "Serving at scale"):
//   POST   /v1/jobs                 multipart: image, [control], parameters (JSON)  -> 201 { id, state, links }
//   GET    /v1/jobs/:id             state, progress, timings, image URLs
//   GET    /v1/jobs/:id/events      server-sent events: "state" and "progress"
//   GET    /v1/jobs/:id/images/:n   a PNG (frame n: 0 reconstruction, 1.. samples)
//   DELETE /v1/jobs/:id             cancel
//   GET    /healthz                 Redis reachable (no token needed)
//   GET    /metrics                 Prometheus
import { createReadStream } from 'node:fs';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import type { EventHub } from './event-hub.js';
import { HttpError } from './http-error.js';
import { parseJobParameters, type ParameterLimits } from './job-params.js';
import type { JobBook, JobStatus } from './jobs.js';
import type { ServerMetrics } from './metrics.js';
import type { Registry } from './registry.js';
import { readUpload, type ImageLimits } from './upload.js';

export interface RouteDeps {
  book: JobBook;
  hub: EventHub;
  metrics: ServerMetrics;
  registry: Registry;
  redis: Redis;
  limits: ImageLimits & ParameterLimits;
  /** Per token and minute; undefined: no rate limits. */
  rate: { submit: number; read: number } | undefined;
  /** Seconds between status polls of an event stream (besides the pushed events). */
  eventPollSeconds: number;
}

const TERMINAL = new Set(['completed', 'failed', 'cancelled']);

function notFound(id: string): HttpError {
  return new HttpError(404, 'UNKNOWN_JOB', `no job ${JSON.stringify(id)} (unknown id, another token's job, or its results expired)`);
}

function links(id: string) {
  return { self: `/v1/jobs/${id}`, events: `/v1/jobs/${id}/events` };
}

async function submit(deps: RouteDeps, request: FastifyRequest, reply: FastifyReply) {
  const started = performance.now();
  let upload;
  let params;
  try {
    upload = await readUpload(request, deps.limits);
    params = parseJobParameters(upload.parameters, deps.limits);
    if (params.task === 'structure' && !upload.control) throw new HttpError(400, 'MISSING_CONTROL', 'a structure-guided job needs the file field "control" (the control image)');
    if (params.task !== 'structure' && upload.control) throw new HttpError(400, 'UNEXPECTED_CONTROL', `the file field "control" is only used by structure-guided jobs, not ${params.task}`);
  } catch (err) {
    const status = err instanceof HttpError ? err.status : (err as { statusCode?: number }).statusCode ?? 400;
    deps.metrics.refused.inc({ reason: status === 413 ? 'too_large' : status === 415 ? 'not_multipart' : 'invalid' });
    throw err;
  }
  const key = request.headers['idempotency-key'];
  if (key !== undefined && (typeof key !== 'string' || key.length === 0 || key.length > 200)) {
    throw new HttpError(400, 'BAD_IDEMPOTENCY_KEY', 'the Idempotency-Key header must be 1 to 200 characters');
  }
  const r = await deps.book.submit({ owner: request.owner, params, image: upload.image, ...(upload.control ? { control: upload.control } : {}), ...(key ? { idempotencyKey: key } : {}) });
  if (r.route) deps.metrics.submitted.inc({ task: params.task, route: r.route.reason });
  deps.metrics.enqueueSeconds.observe((performance.now() - started) / 1000);
  const status = r.existing ? await deps.book.status(r.id, request.owner) : undefined;
  return reply.status(r.existing ? 200 : 201).header('location', `/v1/jobs/${r.id}`).send({ id: r.id, state: status?.state ?? 'queued', links: links(r.id) });
}

async function events(deps: RouteDeps, request: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply) {
  const { id } = request.params;
  const owner = request.owner;
  const first = await deps.book.status(id, owner);
  if (!first) throw notFound(id);
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache, no-transform', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  let open = true;
  let last = '';
  const send = (event: string, data: unknown) => {
    if (open) raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  };
  const close = () => {
    if (!open) return;
    open = false;
    off();
    clearInterval(poll);
    clearInterval(keepalive);
    raw.end();
  };
  const state = (s: JobStatus | undefined) => {
    if (!s) return close();
    const key = `${s.state}:${s.attempts}`;
    if (key !== last) send('state', s);
    last = key;
    if (TERMINAL.has(s.state)) close();
  };
  const refresh = () => {
    deps.book.status(id, owner).then(state, () => {});
  };
  const off = deps.hub.listen(id, (e) => (e.type === 'progress' ? send('progress', e.progress) : refresh()));
  const poll = setInterval(refresh, deps.eventPollSeconds * 1000);
  const keepalive = setInterval(() => open && raw.write(': keep-alive\n\n'), 15_000);
  request.raw.on('close', close);
  state(first);
}

async function image(deps: RouteDeps, request: FastifyRequest<{ Params: { id: string; n: string } }>, reply: FastifyReply) {
  const { id, n } = request.params;
  const status = await deps.book.status(id, request.owner);
  if (!status) throw notFound(id);
  if (status.state !== 'completed') throw new HttpError(409, 'NOT_COMPLETED', `job ${id} is ${status.state}; its images exist once it is completed`);
  const result = await deps.book.result(id, request.owner);
  const frame = /^\d{1,3}$/.test(n) ? Number(n) : NaN;
  if (!result || !result.frames.includes(frame)) {
    throw new HttpError(404, 'UNKNOWN_IMAGE', `job ${id} has no image ${JSON.stringify(n)}; it has ${result?.frames.join(', ') ?? 'none'}`);
  }
  const file = deps.book.imageFile(id, frame);
  return reply.type('image/png').header('cache-control', 'private, max-age=31536000, immutable').send(createReadStream(file));
}

export function registerRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const limit = (max: number | undefined) => (max === undefined ? {} : { config: { rateLimit: { max, timeWindow: 60_000 } } });
  const read = limit(deps.rate?.read);
  app.post('/v1/jobs', limit(deps.rate?.submit), (request, reply) => submit(deps, request, reply));
  app.get<{ Params: { id: string } }>('/v1/jobs/:id', read, async (request) => {
    const status = await deps.book.status(request.params.id, request.owner);
    if (!status) throw notFound(request.params.id);
    return status;
  });
  app.get<{ Params: { id: string } }>('/v1/jobs/:id/events', read, (request, reply) => events(deps, request, reply));
  app.get<{ Params: { id: string; n: string } }>('/v1/jobs/:id/images/:n', read, (request, reply) => image(deps, request, reply));
  app.delete<{ Params: { id: string } }>('/v1/jobs/:id', read, async (request, reply) => {
    const { id } = request.params;
    const outcome = await deps.book.cancel(id, request.owner);
    if (outcome === undefined) throw notFound(id);
    if (outcome === 'finished') throw new HttpError(409, 'ALREADY_FINISHED', `job ${id} has already finished; there is nothing to cancel`);
    return reply.status(outcome === 'cancelled' ? 200 : 202).send({ id, state: outcome });
  });
  app.get('/healthz', async (_request, reply) => {
    try {
      await deps.redis.ping();
      const workers = await deps.registry.list();
      return { status: 'ok', redis: 'up', workers: { alive: workers.filter((w) => w.stats).length, registered: workers.length } };
    } catch {
      return reply.status(503).send({ status: 'unavailable', redis: 'down' });
    }
  });
  app.get('/metrics', async (_request, reply) => reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics()));
}
