// Prometheus metrics of the server (prom-client, a registry of its own): queue depth per queue and
// state, workers alive/dead, per-worker steps/s and image-prompt cache hits, job latency
// histograms, submissions, refusals and outcomes.
import { Counter, Gauge, Histogram, Registry as PromRegistry, collectDefaultMetrics } from 'prom-client';
import type { RegisteredWorker } from './registry.js';

export interface Snapshot {
  queues: Array<{ name: string; counts: Record<string, number> }>;
  workers: RegisteredWorker[];
}

const LATENCY_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 60, 120, 300, 600, 1800];

export class ServerMetrics {
  readonly registry = new PromRegistry();
  readonly submitted: Counter<'task' | 'route'>;
  readonly refused: Counter<'reason'>;
  readonly finished: Counter<'task' | 'outcome'>;
  readonly enqueueSeconds: Histogram;
  readonly queuedSeconds: Histogram<'task'>;
  readonly runSeconds: Histogram<'task'>;
  readonly totalSeconds: Histogram<'task' | 'outcome'>;
  private snapshot: { at: number; value: Promise<Snapshot> } | undefined;

  constructor(take: () => Promise<Snapshot>) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'indetail_serve_' });
    const current = () => {
      const now = Date.now();
      if (!this.snapshot || now - this.snapshot.at > 1000) this.snapshot = { at: now, value: take() };
      return this.snapshot.value;
    };
    this.submitted = new Counter({ name: 'indetail_jobs_submitted_total', help: 'Jobs queued, by task and route (affinity, busy, no-worker, off)', labelNames: ['task', 'route'], registers });
    this.refused = new Counter({ name: 'indetail_jobs_refused_total', help: 'Submissions refused before queueing, by reason', labelNames: ['reason'], registers });
    this.finished = new Counter({ name: 'indetail_jobs_finished_total', help: 'Jobs that ended, by task and outcome (completed, failed, cancelled)', labelNames: ['task', 'outcome'], registers });
    this.enqueueSeconds = new Histogram({ name: 'indetail_enqueue_seconds', help: 'Time to accept a submission (upload checks, store, queue)', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers });
    this.queuedSeconds = new Histogram({ name: 'indetail_job_queued_seconds', help: 'Time from submission to the start of the run that finished it', labelNames: ['task'], buckets: LATENCY_BUCKETS, registers });
    this.runSeconds = new Histogram({ name: 'indetail_job_run_seconds', help: 'Time a worker ran the job', labelNames: ['task'], buckets: LATENCY_BUCKETS, registers });
    this.totalSeconds = new Histogram({ name: 'indetail_job_seconds', help: 'Time from submission to the end of the job', labelNames: ['task', 'outcome'], buckets: LATENCY_BUCKETS, registers });
    new Gauge({
      name: 'indetail_queue_jobs',
      help: 'Jobs per queue and state',
      labelNames: ['queue', 'state'],
      registers,
      async collect() {
        this.reset();
        for (const q of (await current()).queues) for (const [state, n] of Object.entries(q.counts)) this.set({ queue: q.name, state }, n);
      },
    });
    new Gauge({
      name: 'indetail_workers',
      help: 'Registered workers by liveness (dead: heartbeat expired, queue being drained by the others)',
      labelNames: ['state'],
      registers,
      async collect() {
        const workers = (await current()).workers;
        this.set({ state: 'alive' }, workers.filter((w) => w.stats).length);
        this.set({ state: 'dead' }, workers.filter((w) => !w.stats).length);
      },
    });
    const perWorker = (name: string, help: string, value: (w: Required<RegisteredWorker>) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['worker'],
        registers,
        async collect() {
          this.reset();
          for (const w of (await current()).workers) if (w.stats) this.set({ worker: w.info.id }, value(w as Required<RegisteredWorker>));
        },
      });
    perWorker('indetail_worker_steps_per_second', 'UNet steps (inversion and denoising) per second of each live worker over the last minute', (w) => w.stats.stepsPerSecond);
    perWorker('indetail_worker_busy', '1 while the worker runs a job', (w) => (w.stats.state === 'busy' ? 1 : 0));
    perWorker('indetail_worker_jobs_completed', 'Jobs the worker completed since it started', (w) => w.stats.jobsDone);
    perWorker('indetail_worker_jobs_failed', 'Jobs that failed for good on the worker since it started', (w) => w.stats.jobsFailed);
    perWorker('indetail_worker_kv_cache_hits', 'Calls that found the image prompt in the worker\'s K/V cache', (w) => w.stats.kvCache.hits);
    perWorker('indetail_worker_kv_cache_misses', 'Calls that did not find the image prompt in the worker\'s K/V cache', (w) => w.stats.kvCache.misses);
    perWorker('indetail_worker_kv_cache_bytes', 'Bytes held by the worker\'s K/V cache', (w) => w.stats.kvCache.bytes);
  }
}
