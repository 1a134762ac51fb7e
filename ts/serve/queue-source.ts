// One BullMQ queue a worker takes jobs from by hand (BullMQ's "manually fetching jobs" pattern): a
// worker process takes from several queues (its own, the shared one, those of dead workers) but
// runs one job at a time, so it asks each queue in turn instead of running a BullMQ main loop per
// queue. BullMQ still owns the job states, the locks and the stalled-job recovery.
import { Queue, Worker as BullWorker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';

export interface RecoveryOptions {
  /** Milliseconds a job stays locked without a renewal; a dead worker's job is recovered after it. */
  lockDuration: number;
  /** Milliseconds between stalled-job checks. */
  stalledInterval: number;
  /** How often a job may stall (its worker died or lost its lock) before it fails. */
  maxStalledCount: number;
}

export const DEFAULT_RECOVERY: Readonly<RecoveryOptions> = Object.freeze({ lockDuration: 30_000, stalledInterval: 30_000, maxStalledCount: 2 });

export class QueueSource {
  private readonly worker: BullWorker;
  private queue: Queue | undefined;

  constructor(
    readonly name: string,
    private readonly connection: Redis,
    workerName: string,
    recovery: RecoveryOptions,
    private readonly onError: (err: Error) => void,
  ) {
    this.worker = new BullWorker(name, null, {
      connection,
      name: workerName,
      autorun: false,
      concurrency: 1,
      lockDuration: recovery.lockDuration,
      stalledInterval: recovery.stalledInterval,
      maxStalledCount: recovery.maxStalledCount,
    });
    this.worker.on('error', onError);
  }

  /** Starts BullMQ's stalled-job checker on this queue (it moves jobs whose lock expired back to waiting). */
  async start(): Promise<void> {
    await this.worker.startStalledCheckTimer();
  }

  /** The next waiting job, locked with `token`, or undefined. */
  async next(token: string): Promise<Job | undefined> {
    return (await this.worker.getNextJob(token, { block: false })) ?? undefined;
  }

  /** Jobs not yet finished: waiting, delayed, prioritized or active. */
  async unfinished(): Promise<number> {
    if (!this.queue) {
      this.queue = new Queue(this.name, { connection: this.connection });
      this.queue.on('error', this.onError);
    }
    const c = await this.queue.getJobCounts('waiting', 'delayed', 'prioritized', 'active');
    return Object.values(c).reduce((a, b) => a + b, 0);
  }

  async close(): Promise<void> {
    await this.worker.close(true);
    await this.queue?.close();
  }
}
