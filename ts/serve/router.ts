// Where a new job goes: with affinity on, to the own queue of the live worker that wins the image
// prompt's hash (rendezvous hashing), unless that worker already has `depth` jobs waiting there;
// otherwise, and with affinity off, to the shared queue that every worker takes from.
import type { Queue } from 'bullmq';
import { rendezvousPick } from './affinity.js';
import type { Keys } from './keys.js';
import type { Registry } from './registry.js';

export interface RouterOptions {
  affinity: boolean;
  /** Jobs waiting in a worker's own queue from which on it counts as busy. */
  depth: number;
}

export interface Route {
  queue: string;
  /** affinity: the image's worker; busy: that worker had `depth` jobs waiting; no-worker: none alive; off: affinity disabled. */
  reason: 'affinity' | 'busy' | 'no-worker' | 'off';
  worker?: string;
}

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
    const worker = rendezvousPick(imageHash, [...workers.keys()]);
    if (worker === undefined) return { queue: this.keys.shared, reason: 'no-worker' };
    const queue = workers.get(worker)!;
    if ((await this.queue(queue).count()) >= this.options.depth) return { queue: this.keys.shared, reason: 'busy', worker };
    return { queue, reason: 'affinity', worker };
  }
}
