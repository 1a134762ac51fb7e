// The worker registry in Redis: every worker registers once (a hash field) and keeps a key with a
// TTL alive by its heartbeat. A registered worker whose key expired is dead; other workers adopt
// its queue (worker.ts), and the server leaves it out of affinity routing.
import type { Redis } from 'ioredis';
import type { Keys } from './keys.js';

export interface WorkerInfo {
  id: string;
  /** Its own BullMQ queue (image-prompt affinity). */
  queue: string;
  model: string;
  controlnet?: string;
  backend: string;
  host: string;
  pid: number;
  startedAt: number;
}

export interface WorkerStats {
  state: 'idle' | 'busy' | 'stopping';
  /** The job it runs now. */
  job?: string;
  jobsDone: number;
  jobsFailed: number;
  /** Inversion and denoising steps per second over the last jobs. */
  stepsPerSecond: number;
  kvCache: { hits: number; misses: number; entries: number; bytes: number };
  /** Queues of dead workers it is draining. */
  adopted: string[];
  updatedAt: number;
}

export interface RegisteredWorker {
  info: WorkerInfo;
  /** Undefined when the worker's heartbeat expired (dead or stopped). */
  stats?: WorkerStats;
}

function parse<T>(text: string | null | undefined): T | undefined {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}

export class Registry {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {}

  async register(info: WorkerInfo): Promise<void> {
    await this.redis.hset(this.keys.registry, info.id, JSON.stringify(info));
  }

  async heartbeat(id: string, stats: WorkerStats, ttlMs: number): Promise<void> {
    await this.redis.set(this.keys.alive(id), JSON.stringify(stats), 'PX', ttlMs);
  }

  /** The worker stopped: it is dead from now on (its queue gets adopted until it is empty). */
  async stopped(id: string): Promise<void> {
    await this.redis.del(this.keys.alive(id));
  }

  /** Forgets a dead worker whose queue is empty. */
  async forget(id: string): Promise<void> {
    await this.redis.hdel(this.keys.registry, id);
  }

  async list(): Promise<RegisteredWorker[]> {
    const all = await this.redis.hgetall(this.keys.registry);
    const infos = Object.values(all)
      .map((t) => parse<WorkerInfo>(t))
      .filter((i): i is WorkerInfo => i !== undefined)
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    if (infos.length === 0) return [];
    const alive = await this.redis.mget(infos.map((i) => this.keys.alive(i.id)));
    return infos.map((info, k) => {
      const stats = parse<WorkerStats>(alive[k]);
      return stats ? { info, stats } : { info };
    });
  }
}
