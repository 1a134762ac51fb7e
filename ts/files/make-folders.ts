// mkdir -p that cannot hang. Node's recursive mkdir (sync and async) retries forever where mkdir
// keeps failing with ENOENT, as it does under /proc; this makes one level at a time from the
// deepest existing folder and reports the first failure.
import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';

/** Creates `dir` and its missing parents; returns the first folder it made (undefined: it existed). */
export async function makeFolders(dir: string): Promise<string | undefined> {
  const missing: string[] = [];
  for (let d = dir; !(await stat(d).then(() => true, () => false)); d = path.dirname(d)) {
    missing.unshift(d);
    if (path.dirname(d) === d) break;
  }
  for (const d of missing) await mkdir(d);
  return missing[0];
}

