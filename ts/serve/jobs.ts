// The server's side of the jobs: submitting (store the images once, route, queue, index),
// finding a job by id for its owner, its status, and cancelling.
import { createHash, randomUUID } from 'node:crypto';
import { Queue, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { CANCELLED_REASON, type JobData, type JobIndex, type JobProgress, type JobResult, type JobReturn } from './job-data.js';
import type { JobParameters } from './job-params.js';
import { JOB_ID, type Keys } from './keys.js';
import type { Route, Router } from './router.js';
import type { Store } from './store.js';

export type JobState = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';

export interface JobStatus {
  id: string;
  task: string;
  state: JobState;
  progress: JobProgress | null;
  /** Times the job was started (more than 1 after a worker died or a retry). */
  attempts: number;
  worker?: string;
  error?: string;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  /** Seconds: queued, run (by the worker), total (submission to end); generate and its phases: the pipeline call that produced the results. */
  timings: { queued?: number; run?: number; total?: number; generate?: number; encode?: number; inversion?: number; denoise?: number; decode?: number };
  kvCache?: string;
  /** URLs of the PNGs (frame 0 = reconstruction, 1.. = samples). */
  images?: string[];
  expiresAt?: string;
}

export interface SubmitRequest {
  owner: string;
  params: JobParameters;
  image: Uint8Array;
  control?: Uint8Array;
  /** Client-chosen key: a repeated submission with the same key (and owner) returns the first job. */
  idempotencyKey?: string;
}

export interface BookOptions {
  attempts: number;
  /** Seconds results are kept after the job ends. */
  resultTtl: number;
}

/** Index entries outlive the results by this much (a job can wait this long in a queue). */
const INDEX_GRACE_S = 7 * 86400;

const iso = (ms: number | undefined) => (ms ? new Date(ms).toISOString() : undefined);
const seconds = (from: number | undefined, to: number | undefined) => (from && to ? (to - from) / 1000 : undefined);

function mapState(state: string, failedReason: string | undefined): JobState | undefined {
  if (state === 'completed') return 'completed';
  if (state === 'failed') return failedReason === CANCELLED_REASON ? 'cancelled' : 'failed';
  if (state === 'active') return 'running';
  if (state === 'waiting' || state === 'delayed' || state === 'prioritized' || state === 'waiting-children') return 'queued';
  return undefined;
}

export class JobBook {
  private readonly queues = new Map<string, Queue>();

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly store: Store,
    private readonly router: Router,
    private readonly options: BookOptions,
  ) {}

  queue(name: string): Queue {
    let q = this.queues.get(name);
    if (!q) {
      q = new Queue(name, { connection: this.redis });
      // Without a listener an 'error' event would end the process; the connection logs its own errors (redis.ts).
      q.on('error', () => {});
      this.queues.set(name, q);
    }
    return q;
  }

  private async index(id: string): Promise<JobIndex | undefined> {
    const text = await this.redis.get(this.keys.job(id));
    return text ? (JSON.parse(text) as JobIndex) : undefined;
  }

  async submit(req: SubmitRequest): Promise<{ id: string; route: Route | undefined; existing: boolean }> {
    const id = req.idempotencyKey === undefined ? randomUUID() : `k${createHash('sha256').update(req.owner).update('\0').update(req.idempotencyKey).digest('hex').slice(0, 32)}`;
    const image = await this.store.putInput(req.image);
    const control = req.control ? await this.store.putInput(req.control) : undefined;
    const known = req.idempotencyKey === undefined ? undefined : await this.index(id);
    if (known && (known.cancelledAt || (await this.queue(known.queue).getJob(id)))) return { id, route: undefined, existing: true };
    // A known key without its job: an earlier attempt stopped between the two writes; queue it again where it was routed.
    const route: Route = known ? { queue: known.queue, reason: 'off' } : await this.router.route(image);
    const data: JobData = { v: 1, params: req.params, image, ...(control ? { control } : {}), owner: req.owner, resultTtl: this.options.resultTtl };
    const entry: JobIndex = { queue: route.queue, owner: req.owner, task: req.params.task, createdAt: Date.now() };
    await this.redis.set(this.keys.job(id), JSON.stringify(entry), 'EX', this.options.resultTtl + INDEX_GRACE_S);
    await this.queue(route.queue).add(req.params.task, data, {
      jobId: id,
      attempts: this.options.attempts,
      removeOnComplete: { age: this.options.resultTtl },
      removeOnFail: { age: this.options.resultTtl },
    });
    await this.redis.publish(this.keys.wakeChannel, route.queue);
    return { id, route, existing: false };
  }

  /** The job and its index entry, when `id` exists and belongs to `owner` (undefined owner: any). */
  async find(id: string, owner: string | undefined): Promise<{ index: JobIndex; job?: Job } | undefined> {
    if (!JOB_ID.test(id)) return undefined;
    const index = await this.index(id);
    if (!index || (owner !== undefined && index.owner !== owner)) return undefined;
    const job = await this.queue(index.queue).getJob(id);
    return job ? { index, job } : { index };
  }

  async status(id: string, owner: string | undefined): Promise<JobStatus | undefined> {
    const found = await this.find(id, owner);
    if (!found) return undefined;
    const { index } = found;
    let { job } = found;
    if (!job) {
      if (!index.cancelledAt) return undefined;
      return { id, task: index.task, state: 'cancelled', progress: null, attempts: 0, createdAt: new Date(index.createdAt).toISOString(), finishedAt: new Date(index.cancelledAt).toISOString(), timings: {} };
    }
    const raw = await job.getState();
    // The job was read before its state: one that ended in between is read again, so that its
    // failure reason (a cancellation is a failure with CANCELLED_REASON) and result match the state.
    if (raw === 'completed' || raw === 'failed') job = (await this.queue(index.queue).getJob(id)) ?? job;
    const state = mapState(raw, job.failedReason);
    if (!state) return undefined;
    const result = state === 'completed' ? await this.store.readResult(id) : undefined;
    if (result && result.expiresAt <= Date.now()) return undefined;
    const ret = job.returnvalue as JobReturn | null;
    const progress = typeof job.progress === 'object' && job.progress !== null ? (job.progress as unknown as JobProgress) : null;
    const finished = state === 'completed' || state === 'failed' || state === 'cancelled';
    const status: JobStatus = {
      id,
      task: job.name,
      state,
      progress,
      attempts: job.attemptsStarted,
      createdAt: new Date(job.timestamp).toISOString(),
      timings: {},
    };
    const worker = result?.worker ?? ret?.worker ?? job.processedBy;
    if (worker) status.worker = worker;
    if (state === 'failed' && job.failedReason) status.error = job.failedReason;
    const startedAt = iso(job.processedOn);
    if (startedAt) status.startedAt = startedAt;
    const finishedAt = finished ? iso(job.finishedOn) : undefined;
    if (finishedAt) status.finishedAt = finishedAt;
    status.timings = { queued: seconds(job.timestamp, job.processedOn), run: finished ? seconds(job.processedOn, job.finishedOn) : undefined, total: finished ? seconds(job.timestamp, job.finishedOn) : undefined };
    if (result) {
      const { total: generate, ...phases } = result.timings;
      status.timings = { ...status.timings, generate, ...phases };
    }
    if (result) {
      status.kvCache = result.kvCache;
      status.images = result.frames.map((f) => `/v1/jobs/${id}/images/${f}`);
      status.expiresAt = new Date(result.expiresAt).toISOString();
    }
    return status;
  }

  /** The result record of a completed job of `owner`. */
  async result(id: string, owner: string): Promise<JobResult | undefined> {
    const status = await this.status(id, owner);
    return status?.state === 'completed' ? this.store.readResult(id) : undefined;
  }

  imageFile(id: string, frame: number): string {
    return this.store.imageFile(id, frame);
  }

  /**
   * Cancels a job: a queued one is removed at once ('cancelled'); a running one is told to stop
   * ('cancelling': its worker aborts between steps and the job ends 'cancelled'); a finished one
   * cannot be ('finished'). undefined: no such job.
   */
  async cancel(id: string, owner: string): Promise<'cancelled' | 'cancelling' | 'finished' | undefined> {
    const found = await this.find(id, owner);
    if (!found) return undefined;
    if (found.index.cancelledAt) return 'cancelled';
    const { job } = found;
    if (!job) return undefined;
    const state = mapState(await job.getState(), job.failedReason);
    if (state === undefined) return undefined;
    if (state === 'completed' || state === 'failed' || state === 'cancelled') return 'finished';
    await this.redis.set(this.keys.cancel(id), '1', 'EX', this.options.resultTtl + INDEX_GRACE_S);
    await this.redis.publish(this.keys.cancelChannel, id);
    if (state === 'queued') {
      try {
        await job.remove();
        const entry: JobIndex = { ...found.index, cancelledAt: Date.now() };
        await this.redis.set(this.keys.job(id), JSON.stringify(entry), 'KEEPTTL');
        return 'cancelled';
      } catch {
        // A worker took it meanwhile: it sees the cancel key when it starts.
      }
    }
    return 'cancelling';
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    this.queues.clear();
  }
}
