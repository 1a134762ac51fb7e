// Image-prompt affinity: rendezvous (highest-random-weight) hashing of the image prompt's hash over
// the live workers. Every server picks the same worker for the same image without coordination,
// and when a worker joins or leaves only the images it wins or held move.
import { createHash } from 'node:crypto';

function score(workerId: string, key: string): bigint {
  return createHash('sha256').update(workerId).update('\0').update(key).digest().readBigUInt64BE(0);
}

/** The worker (by id) that wins `key`, or undefined when there is none. */
export function rendezvousPick(key: string, workerIds: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = -1n;
  for (const id of workerIds) {
    const s = score(id, key);
    if (s > bestScore || (s === bestScore && best !== undefined && id < best)) {
      best = id;
      bestScore = s;
    }
  }
  return best;
}
