// Where a new job goes: with affinity on, to the own queue of the live worker that ranks first for
// the image prompt's hash (rendezvous hashing), or of the one that ranks second when the first
// already has `depth` jobs waiting; when both are busy, and with affinity off, to the shared queue
// that every worker takes from. The second choice keeps a hot image prompt on two caches instead
// of spilling it over all workers, and evens out images unevenly spread over few workers.
import type { Queue } from 'bullmq';
import { rendezvousRank } from './affinity.js';
import type { Keys } from './keys.js';
import type { Registry } from './registry.js';

export interface RouterOptions {
  affinity: boolean;
  /** Jobs waiting in a worker's own queue from which on it counts as busy. */
  depth: number;
}

export interface Route {
  queue: string;
  /** affinity: the image's first worker; second: its second (the first was busy); busy: both had `depth` jobs waiting; no-worker: none alive; off: affinity disabled. */
  reason: 'affinity' | 'second' | 'busy' | 'no-worker' | 'off';
  worker?: string;
}

/** Workers tried in rendezvous order before the shared queue. */
const CHOICES = 2;

/** How long the list of live workers is reused between submissions. */
const LIVE_CACHE_MS = 500;

export class Router {
  private live: { at: number; workers: Map<string, string> } | undefined;

  constructor(
    private readonly keys: Keys,
    private readonly registry: Registry,
    private readonly queue: (name: string) => Queue,
    private readonly options: RouterOptions,
  ) {}

  private async liveWorkers(): Promise<Map<string, string>> {
    const now = Date.now();
    if (this.live && now - this.live.at < LIVE_CACHE_MS) return this.live.workers;
    const workers = new Map<string, string>();
    for (const w of await this.registry.list()) {
      if (w.stats && w.stats.state !== 'stopping') workers.set(w.info.id, w.info.queue);
    }
    this.live = { at: now, workers };
    return workers;
  }

  async route(imageHash: string): Promise<Route> {
    if (!this.options.affinity) return { queue: this.keys.shared, reason: 'off' };
    const workers = await this.liveWorkers();
    const ranked = rendezvousRank(imageHash, [...workers.keys()]).slice(0, CHOICES);
    if (ranked.length === 0) return { queue: this.keys.shared, reason: 'no-worker' };
    for (const [k, worker] of ranked.entries()) {
      const queue = workers.get(worker)!;
      if ((await this.queue(queue).count()) < this.options.depth) return { queue, reason: k === 0 ? 'affinity' : 'second', worker };
    }
    return { queue: this.keys.shared, reason: 'busy', worker: ranked[0]! };
  }
}
