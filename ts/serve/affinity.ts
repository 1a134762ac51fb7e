// Image-prompt affinity: rendezvous (highest-random-weight) hashing of the image prompt's hash over
// the live workers. Every server ranks the workers the same way for the same image without
// coordination, and when a worker joins or leaves only the images it ranks first for move.
import { createHash } from 'node:crypto';

function score(workerId: string, key: string): bigint {
  return createHash('sha256').update(workerId).update('\0').update(key).digest().readBigUInt64BE(0);
}

/** The workers (by id) in rendezvous order for `key`: the highest weight first. */
export function rendezvousRank(key: string, workerIds: readonly string[]): string[] {
  return workerIds
    .map((id) => ({ id, s: score(id, key) }))
    .sort((a, b) => (a.s > b.s ? -1 : a.s < b.s ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .map((x) => x.id);
}

/** The worker (by id) that wins `key`, or undefined when there is none. */
export function rendezvousPick(key: string, workerIds: readonly string[]): string | undefined {
  return rendezvousRank(key, workerIds)[0];
}
