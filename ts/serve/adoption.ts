// Queues of dead workers. A job routed to a worker's own queue must not be stranded when that
// worker dies (kill -9, a lost machine), so every worker watches the registry and, for each
// registered worker whose heartbeat expired, also takes jobs from its queue and runs BullMQ's
// stalled-job check on it (which returns the dead worker's running job to that queue once its
// lock expires). When such a queue has stayed empty for two checks, the dead worker is forgotten;
// if it comes back, the others let go of its queue.
import type { Logger } from 'pino';
import type { QueueSource } from './queue-source.js';
import type { Registry } from './registry.js';

interface Adopted {
  workerId: string;
  source: QueueSource;
  emptyChecks: number;
}

export class Adoption {
  private readonly adopted = new Map<string, Adopted>();

  constructor(
    private readonly selfId: string,
    private readonly registry: Registry,
    private readonly makeSource: (queue: string) => QueueSource,
    private readonly log: Logger,
  ) {}

  sources(): QueueSource[] {
    return [...this.adopted.values()].map((a) => a.source);
  }

  queues(): string[] {
    return [...this.adopted.keys()];
  }

  async check(): Promise<void> {
    const workers = await this.registry.list();
    const registered = new Set(workers.map((w) => w.info.queue));
    for (const queue of [...this.adopted.keys()]) {
      if (!registered.has(queue)) await this.release(queue, 'another worker drained it and forgot its dead worker');
    }
    for (const { info, stats } of workers) {
      if (info.id === this.selfId) continue;
      const held = this.adopted.get(info.queue);
      if (stats) {
        if (held) await this.release(info.queue, 'its worker is alive again');
        continue;
      }
      if (!held) {
        const source = this.makeSource(info.queue);
        this.adopted.set(info.queue, { workerId: info.id, source, emptyChecks: 0 });
        await source.start();
        this.log.warn({ deadWorker: info.id, queue: info.queue }, 'adopting the queue of a dead worker');
        continue;
      }
      held.emptyChecks = (await held.source.unfinished()) === 0 ? held.emptyChecks + 1 : 0;
      if (held.emptyChecks >= 2) {
        await this.registry.forget(info.id);
        await this.release(info.queue, 'it is empty; the dead worker is forgotten');
      }
    }
  }

  private async release(queue: string, why: string): Promise<void> {
    const held = this.adopted.get(queue);
    if (!held) return;
    this.adopted.delete(queue);
    await held.source.close();
    this.log.info({ queue, worker: held.workerId }, `no longer taking jobs from this queue: ${why}`);
  }

  async closeAll(): Promise<void> {
    for (const queue of [...this.adopted.keys()]) await this.release(queue, 'this worker stops');
  }
}
