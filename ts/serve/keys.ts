// Names in Redis for one indetail deployment (a "queue name"): the BullMQ queues, the worker
// registry, the job index and the pub/sub channels. Every component builds them here.
import { IndetailError } from '../errors.js';

/** Queue and worker names: letters, digits, '.', '_' and '-' (they become parts of Redis keys and of BullMQ queue names). */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function checkName(what: string, value: unknown): string {
  if (typeof value !== 'string' || !NAME.test(value)) {
    throw new IndetailError(
      'ERR_INDETAIL_INVALID_ARGUMENT',
      `Expected 1 to 64 letters, digits, '.', '_' or '-' (starting with a letter or digit) for ${what} but received ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/** Job ids handed out by the server (UUIDs, or 'k' + 32 hex digits for idempotency keys). */
export const JOB_ID = /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|k[0-9a-f]{32})$/;

export class Keys {
  constructor(readonly queue: string) {
    checkName('the queue name', queue);
  }
  /** The BullMQ queue every worker takes jobs from. */
  get shared(): string {
    return this.queue;
  }
  /** The BullMQ queue of one worker (image-prompt affinity). */
  workerQueue(workerId: string): string {
    return `${this.queue}.w.${workerId}`;
  }
  /** Hash: worker id -> JSON description (registered workers, alive or not). */
  get registry(): string {
    return `indetail:${this.queue}:workers`;
  }
  /** String with a TTL, refreshed by the worker's heartbeat: its live statistics. */
  alive(workerId: string): string {
    return `indetail:${this.queue}:alive:${workerId}`;
  }
  /** String: which BullMQ queue holds a job, its owner and whether it was cancelled. */
  job(jobId: string): string {
    return `indetail:${this.queue}:job:${jobId}`;
  }
  /** String with a TTL: the job was cancelled (read by the worker that starts or runs it). */
  cancel(jobId: string): string {
    return `indetail:${this.queue}:cancel:${jobId}`;
  }
  /** Pub/sub: job ids to cancel. */
  get cancelChannel(): string {
    return `indetail:${this.queue}:cancel`;
  }
  /** Pub/sub: the name of a BullMQ queue that just received a job (wakes idle workers). */
  get wakeChannel(): string {
    return `indetail:${this.queue}:wake`;
  }
  /** Pub/sub: job events (progress, completed, failed) as JSON. */
  get eventChannel(): string {
    return `indetail:${this.queue}:events`;
  }
}
