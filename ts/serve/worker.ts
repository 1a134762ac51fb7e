// `indetail worker` / createWorker(): one process, one resident pipeline (one per GPU), taking
// jobs one at a time from its own queue (image-prompt affinity), the queues of dead workers, and
// the shared queue. Progress goes to the job (BullMQ) and to the event channel; a cancellation
// reaches the pipeline's AbortSignal; results are published under the job id in the store.
// close() stops taking jobs and lets the running one finish (or hands it back after a grace
// period). A worker that dies is recovered by BullMQ's stalled-job check (on its own queue, by
// whichever worker adopts it).
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { UnrecoverableError, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { pino, type Logger } from 'pino';
import type { BackendName } from '../engine.js';
import type { PrecisionOption } from '../precision.js';
import { IndetailError, isUserError } from '../errors.js';
import { modelSourceOptions, type ModelSource } from '../pipeline/load-options.js';
import { IndetailPipeline } from '../pipeline/pipeline.js';
import { Adoption } from './adoption.js';
import { CANCELLED_REASON, type JobData, type JobEvent, type JobProgress } from './job-data.js';
import { checkName, Keys } from './keys.js';
import { DEFAULT_RECOVERY, QueueSource, type RecoveryOptions } from './queue-source.js';
import { connectRedis, isConnectionError } from './redis.js';
import { Registry, type WorkerStats } from './registry.js';
import { runJob, type JobContext } from './run-job.js';
import { StepRate } from './step-rate.js';
import { Store } from './store.js';

export interface WorkerOptions extends ModelSource {
  /** redis://host:port[/db] */
  redis: string;
  /** The deployment's queue name (default 'indetail'); the server must use the same. */
  queue?: string;
  /** The store directory shared with the server. */
  store: string;
  backend?: 'auto' | BackendName;
  /** The pipeline's precision (see IndetailPipeline.load; default 'auto'). */
  precision?: PrecisionOption;
  /** Byte budget of the image-prompt K/V cache (0 disables it; default: the pipeline's). */
  cacheBytes?: number;
  /** A stable name for this worker (default <host>-<pid>); a restarted worker with the same id takes its queue back. */
  id?: string;
  /** Stalled-job recovery (milliseconds; BullMQ's defaults are 30 s). */
  recovery?: Partial<RecoveryOptions>;
  /** Heartbeat period in ms (default 5000); the worker counts as dead after 3 missed beats. */
  heartbeatMs?: number;
  /** How long an idle worker waits before asking the queues again without a wake-up (default 1000 ms). */
  idlePollMs?: number;
  logger?: Logger;
}

export interface IndetailWorker {
  readonly id: string;
  /** Its own BullMQ queue. */
  readonly queue: string;
  readonly pipeline: IndetailPipeline;
  /** Resolves once the worker has stopped. */
  readonly closed: Promise<void>;
  /** Stops taking jobs; the running job may finish for `graceMs` (default 30000), then it is handed back to the queue. */
  close(options?: { graceMs?: number }): Promise<void>;
  stats(): WorkerStats;
}

const CANCEL = new Error(CANCELLED_REASON);
const SHUTDOWN = new Error('the worker is shutting down');

interface Running {
  id: string;
  abort: AbortController;
}

function defaultId(): string {
  return `${hostname().replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 40) || 'worker'}-${process.pid}`;
}

function positive(name: string, v: number | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  if (!Number.isFinite(v) || v <= 0) throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `Expected a positive number of milliseconds for ${name} but received ${v}`);
  return v;
}

class Worker implements IndetailWorker {
  readonly queue: string;
  readonly closed: Promise<void>;
  private resolveClosed!: () => void;
  private readonly keys: Keys;
  private readonly registry: Registry;
  private readonly own: QueueSource;
  private readonly shared: QueueSource;
  private readonly adoption: Adoption;
  private readonly rate = new StepRate();
  private readonly ctx: JobContext;
  private current: Running | undefined;
  private stopping = false;
  private closing: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private woken = false;
  private heartbeat: NodeJS.Timeout | undefined;
  private beat: Promise<void> = Promise.resolve();
  private loopDone: Promise<void> = Promise.resolve();
  private jobsDone = 0;
  private jobsFailed = 0;
  private sinceShared = 0;
  private lastError = 0;

  constructor(
    readonly id: string,
    readonly pipeline: IndetailPipeline,
    store: Store,
    private readonly redis: Redis,
    private readonly sub: Redis,
    queueName: string,
    private readonly recovery: RecoveryOptions,
    private readonly heartbeatMs: number,
    private readonly idlePollMs: number,
    private readonly log: Logger,
  ) {
    this.closed = new Promise((r) => (this.resolveClosed = r));
    this.keys = new Keys(queueName);
    this.queue = this.keys.workerQueue(id);
    this.registry = new Registry(redis, this.keys);
    const source = (name: string) => new QueueSource(name, redis, id, recovery, (err) => this.warnThrottled(err, `queue ${name}`));
    this.own = source(this.queue);
    this.shared = source(this.keys.shared);
    this.adoption = new Adoption(id, this.registry, source, log);
    this.ctx = { pipeline, store, workerId: id };
  }

  async start(info: { model: string; controlnet?: string }): Promise<void> {
    await this.registry.register({ id: this.id, queue: this.queue, model: info.model, ...(info.controlnet ? { controlnet: info.controlnet } : {}), backend: this.pipeline.backend, host: hostname(), pid: process.pid, startedAt: Date.now() });
    await this.registry.heartbeat(this.id, this.stats(), 3 * this.heartbeatMs);
    this.sub.on('message', (channel: string, message: string) => this.onMessage(channel, message));
    await this.sub.subscribe(this.keys.cancelChannel, this.keys.wakeChannel);
    await this.own.start();
    await this.shared.start();
    this.heartbeat = setInterval(() => this.tick(), this.heartbeatMs);
    this.loopDone = this.loop();
    this.log.info({ worker: this.id, queue: this.queue, backend: this.pipeline.backend }, 'worker ready');
  }

  stats(): WorkerStats {
    const kv = this.pipeline.kvCacheStats();
    return {
      state: this.stopping ? 'stopping' : this.current ? 'busy' : 'idle',
      ...(this.current ? { job: this.current.id } : {}),
      jobsDone: this.jobsDone,
      jobsFailed: this.jobsFailed,
      stepsPerSecond: this.rate.perSecond(),
      kvCache: { hits: kv.hits, misses: kv.misses, entries: kv.entries, bytes: kv.bytes },
      adopted: this.adoption.queues(),
      updatedAt: Date.now(),
    };
  }

  private onMessage(channel: string, message: string): void {
    if (channel === this.keys.cancelChannel) {
      if (this.current?.id === message) this.current.abort.abort(CANCEL);
    } else if (channel === this.keys.wakeChannel) {
      if (message === this.queue || message === this.keys.shared || this.adoption.queues().includes(message)) this.wake();
    }
  }

  private wake(): void {
    if (this.wakeUp) this.wakeUp();
    else this.woken = true; // not idle now: the next idle() returns at once
  }

  private idle(ms: number): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.wakeUp = undefined;
        resolve();
      };
      const t = setTimeout(done, ms);
      this.wakeUp = done;
    });
  }

  private warnThrottled(err: unknown, where: string): void {
    const now = Date.now();
    if (now - this.lastError < 5000) return;
    this.lastError = now;
    this.log.warn({ err: (err as Error)?.message ?? String(err), where }, isConnectionError(err) ? 'redis unavailable, retrying' : 'queue error');
  }

  private tick(): void {
    this.beat = this.beat.then(async () => {
      try {
        await this.registry.heartbeat(this.id, this.stats(), 3 * this.heartbeatMs);
        if (!this.stopping) await this.adoption.check();
      } catch (err) {
        this.warnThrottled(err, 'heartbeat');
      }
    });
  }

  private publish(event: JobEvent): void {
    this.redis.publish(this.keys.eventChannel, JSON.stringify(event)).catch(() => {});
  }

  /** The next job: own queue first (its cache), then dead workers' queues, then the shared one (first after two own jobs in a row, so it never starves). */
  private async fetch(): Promise<{ source: QueueSource; job: Job; token: string } | undefined> {
    const mine = [this.own, ...this.adoption.sources()];
    const order = this.sinceShared >= 2 ? [this.shared, ...mine] : [...mine, this.shared];
    for (const source of order) {
      const token = randomUUID();
      const job = await source.next(token);
      if (job) {
        this.sinceShared = source === this.shared ? 0 : this.sinceShared + 1;
        return { source, job, token };
      }
    }
    this.sinceShared = 0;
    return undefined;
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      let next;
      try {
        next = await this.fetch();
      } catch (err) {
        this.warnThrottled(err, 'fetching a job');
        await this.idle(500);
        continue;
      }
      if (!next) {
        await this.idle(this.idlePollMs);
        continue;
      }
      if (this.stopping) {
        await this.settle(next.job.id!, 'hand back', () => next.job.moveToWait(next.token));
        break;
      }
      await this.process(next.job, next.token);
    }
  }

  /** Runs a BullMQ state change; a lost lock means the job was recovered elsewhere meanwhile (its results are published by whichever run finishes first). */
  private async settle(id: string, what: string, fn: () => Promise<unknown>): Promise<boolean> {
    try {
      await fn();
      return true;
    } catch (err) {
      this.log.warn({ job: id, err: (err as Error).message }, `could not ${what} the job (its lock was lost: another worker recovered it)`);
      return false;
    }
  }

  private progressWriter(job: Job): { write(p: JobProgress): void; settled(): Promise<void> } {
    let pending: JobProgress | undefined;
    let flushing: Promise<void> = Promise.resolve();
    let active = false;
    const flush = async () => {
      active = true;
      while (pending) {
        const p = pending;
        pending = undefined;
        await job.updateProgress(p).catch(() => {});
      }
      active = false;
    };
    return {
      write: (p) => {
        pending = p;
        this.publish({ id: job.id!, type: 'progress', progress: p });
        if (p.phase === 'inversion' || p.phase === 'denoise') this.rate.step();
        if (!active) flushing = flush();
      },
      settled: () => flushing,
    };
  }

  private async process(job: Job, token: string): Promise<void> {
    const id = job.id!;
    const run: Running = { id, abort: new AbortController() };
    this.current = run;
    this.rate.jobStarted();
    const renew = setInterval(() => {
      job.extendLock(token, this.recovery.lockDuration).catch((err) => this.warnThrottled(err, `renewing the lock of job ${id}`));
    }, this.recovery.lockDuration / 2);
    this.publish({ id, type: 'running', worker: this.id });
    this.log.info({ job: id, task: (job.data as JobData)?.params?.task, queue: job.queueName, attempt: job.attemptsStarted }, 'job started');
    const progress = this.progressWriter(job);
    try {
      if (await this.redis.exists(this.keys.cancel(id))) run.abort.abort(CANCEL);
      const { value, written } = await runJob(this.ctx, id, job.data as JobData, run.abort.signal, (p) => progress.write(p));
      await progress.settled();
      clearInterval(renew);
      if (!written) this.log.info({ job: id }, 'an earlier run of this job published its results first; they stand');
      await this.settle(id, 'complete', () => job.moveToCompleted(value, token, false));
      this.jobsDone++;
      this.publish({ id, type: 'completed', worker: this.id });
      this.log.info({ job: id, seconds: value.timings.total, kvCache: value.kvCache, frames: value.frames.length }, 'job completed');
    } catch (err) {
      clearInterval(renew);
      await progress.settled();
      await this.fail(job, token, err, run.abort.signal.reason);
    } finally {
      clearInterval(renew);
      this.rate.jobEnded();
      this.current = undefined;
    }
  }

  private async fail(job: Job, token: string, err: unknown, abortReason: unknown): Promise<void> {
    const id = job.id!;
    if (abortReason === SHUTDOWN) {
      await this.settle(id, 'hand back', () => job.moveToWait(token));
      this.publish({ id, type: 'requeued', worker: this.id });
      this.log.info({ job: id }, 'job handed back to its queue (shutting down)');
      return;
    }
    if (abortReason === CANCEL) {
      await this.settle(id, 'fail', () => job.moveToFailed(new UnrecoverableError(CANCELLED_REASON), token, false));
      this.publish({ id, type: 'cancelled', worker: this.id });
      this.log.info({ job: id }, 'job cancelled');
      return;
    }
    const message = err instanceof Error ? err.message : String(err);
    const user = isUserError(err);
    const final = user || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    await this.settle(id, 'fail', () => job.moveToFailed(user ? new UnrecoverableError(message) : (err as Error), token, false));
    if (final) this.jobsFailed++;
    this.publish({ id, type: final ? 'failed' : 'retrying', worker: this.id, message });
    if (user) this.log.info({ job: id, err: message }, 'job failed (bad input)');
    else this.log.error({ job: id, err: (err as Error)?.stack ?? message, final }, final ? 'job failed' : 'job failed; it will be retried');
  }

  close(options: { graceMs?: number } = {}): Promise<void> {
    this.closing ??= this.shutdown(options.graceMs ?? 30_000);
    return this.closing;
  }

  private async shutdown(graceMs: number): Promise<void> {
    this.stopping = true;
    this.log.info({ worker: this.id, running: this.current?.id ?? null }, 'worker stopping: no new jobs');
    this.tick(); // tell the servers at once (state 'stopping': no more affinity routing here)
    this.wake();
    const run = this.current;
    const timer = run ? setTimeout(() => run.abort.abort(SHUTDOWN), graceMs) : undefined;
    await this.loopDone;
    clearTimeout(timer);
    clearInterval(this.heartbeat);
    await this.beat;
    await this.registry.stopped(this.id).catch(() => {});
    await this.adoption.closeAll().catch(() => {});
    await Promise.all([this.own.close(), this.shared.close()]).catch(() => {});
    await this.sub.quit().catch(() => {});
    await this.redis.quit().catch(() => {});
    this.pipeline.dispose();
    this.log.info({ worker: this.id }, 'worker stopped');
    this.resolveClosed();
  }
}

export async function createWorker(options: WorkerOptions): Promise<IndetailWorker> {
  const log = options.logger ?? pino({ name: 'indetail-worker' });
  const id = checkName('the worker id', options.id ?? defaultId());
  const queue = checkName('the queue name', options.queue ?? 'indetail');
  const recovery: RecoveryOptions = {
    lockDuration: positive('lockDuration', options.recovery?.lockDuration, DEFAULT_RECOVERY.lockDuration),
    stalledInterval: positive('stalledInterval', options.recovery?.stalledInterval, DEFAULT_RECOVERY.stalledInterval),
    maxStalledCount: options.recovery?.maxStalledCount ?? DEFAULT_RECOVERY.maxStalledCount,
  };
  if (!Number.isSafeInteger(recovery.maxStalledCount) || recovery.maxStalledCount < 0) {
    throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `Expected a non-negative integer for maxStalledCount but received ${recovery.maxStalledCount}`);
  }
  const heartbeatMs = positive('heartbeatMs', options.heartbeatMs, 5000);
  const idlePollMs = positive('idlePollMs', options.idlePollMs, 1000);
  const store = await Store.open(options.store);
  const pipeline = await IndetailPipeline.load({
    ...modelSourceOptions(options),
    backend: options.backend ?? 'auto',
    ...(options.precision !== undefined ? { precision: options.precision } : {}),
    ...(options.cacheBytes !== undefined ? { kvCache: { maxBytes: options.cacheBytes } } : {}),
    onInfo: (m) => log.info(m),
    onWarning: (m) => log.warn(m),
  });
  const redis = connectRedis(options.redis, 'worker', log);
  const sub = connectRedis(options.redis, 'subscriber', log);
  const worker = new Worker(id, pipeline, store, redis, sub, queue, recovery, heartbeatMs, idlePollMs, log);
  try {
    await worker.start({ model: options.model, ...(options.controlnet ? { controlnet: options.controlnet } : {}) });
  } catch (err) {
    await worker.close({ graceMs: 0 }).catch(() => {});
    throw err;
  }
  return worker;
}
