// The server's subscription to the job event channel: it hands each event to the listeners of
// that job (server-sent events) and to a global listener (metrics). Pub/sub is fire-and-forget,
// so listeners also poll (see the events route): an event lost while Redis restarts costs a delay,
// never a hung client.
import type { Redis } from 'ioredis';
import type { JobEvent } from './job-data.js';
import type { Keys } from './keys.js';

export class EventHub {
  private readonly listeners = new Map<string, Set<(e: JobEvent) => void>>();

  constructor(
    private readonly sub: Redis,
    private readonly keys: Keys,
    private readonly onEvent: (e: JobEvent) => void,
  ) {}

  async start(): Promise<void> {
    this.sub.on('message', (channel: string, message: string) => {
      if (channel !== this.keys.eventChannel) return;
      let event: JobEvent;
      try {
        event = JSON.parse(message) as JobEvent;
      } catch {
        return;
      }
      this.onEvent(event);
      for (const fn of this.listeners.get(event.id) ?? []) fn(event);
    });
    await this.sub.subscribe(this.keys.eventChannel);
  }

  /** Calls `fn` with the events of job `id` until the returned function is called. */
  listen(id: string, fn: (e: JobEvent) => void): () => void {
    let set = this.listeners.get(id);
    if (!set) {
      set = new Set();
      this.listeners.set(id, set);
    }
    set.add(fn);
    return () => {
      set.delete(fn);
      if (set.size === 0) this.listeners.delete(id);
    };
  }
}
