// The shared store of a deployment: a directory every worker and the server see (local disk on one
// machine, a shared filesystem such as NFS across machines).
//
//   inputs/<sha256>              uploaded images, stored once per content
//   results/<job id>/<frame>.png the PNGs of a finished job, with result.json
//
// A job's results are written into a temporary directory and renamed to results/<job id> in one
// step. The first complete set wins: a retried job whose results already exist leaves them as they
// are, so readers never see a mix of two runs and a job id has exactly one result set.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat, utimes } from 'node:fs/promises';
import path from 'node:path';
import { IndetailError } from '../errors.js';
import { writeFileAtomic } from '../image/atomic.js';
import type { JobResult } from './job-data.js';
import { JOB_ID } from './keys.js';

const HASH = /^[0-9a-f]{64}$/;
/** Temporary result directories of crashed workers are removed after this long. */
const STALE_TEMP_MS = 3600_000;

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

async function syncDir(dir: string): Promise<void> {
  try {
    const d = await open(dir, 'r');
    await d.sync().finally(() => d.close());
  } catch {
    /* best effort: not every filesystem allows fsync on a directory */
  }
}

export interface SweepCounts {
  results: number;
  inputs: number;
  temporary: number;
}

export class Store {
  readonly inputs: string;
  readonly results: string;

  private constructor(readonly root: string) {
    this.inputs = path.join(root, 'inputs');
    this.results = path.join(root, 'results');
  }

  /** Opens (creating when needed) the store at `root`. */
  static async open(root: string): Promise<Store> {
    if (typeof root !== 'string' || root.length === 0) {
      throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `Expected a directory path for store but received ${JSON.stringify(root)}`);
    }
    const store = new Store(path.resolve(root));
    try {
      await mkdir(store.inputs, { recursive: true });
      await mkdir(store.results, { recursive: true });
    } catch (err) {
      throw new IndetailError('ERR_INDETAIL_IO', `cannot use ${root} as the store: ${(err as Error).message}`, { cause: err });
    }
    return store;
  }

  static hash(bytes: Uint8Array): string {
    return createHash('sha256').update(bytes).digest('hex');
  }

  /** Stores an input image once per content; returns its hash. A known image only gets its time refreshed (it is kept a TTL after its last use). */
  async putInput(bytes: Uint8Array): Promise<string> {
    const hash = Store.hash(bytes);
    const file = path.join(this.inputs, hash);
    const now = new Date();
    try {
      await utimes(file, now, now);
    } catch (err) {
      if (errno(err) !== 'ENOENT') throw new IndetailError('ERR_INDETAIL_IO', `cannot update ${file}: ${(err as Error).message}`, { cause: err });
      await writeFileAtomic(file, bytes);
    }
    return hash;
  }

  async readInput(hash: string): Promise<Buffer> {
    if (!HASH.test(hash)) throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `Expected a sha256 hex digest for the input image but received ${JSON.stringify(hash)}`);
    const file = path.join(this.inputs, hash);
    try {
      const bytes = await readFile(file);
      const now = new Date();
      await utimes(file, now, now).catch(() => {});
      return bytes;
    } catch (err) {
      if (errno(err) === 'ENOENT') {
        throw new IndetailError('ERR_INDETAIL_BAD_FILE', `the input image ${hash} is not in the store ${this.root} (expired, or this worker does not share the server's store)`);
      }
      throw new IndetailError('ERR_INDETAIL_IO', `cannot read ${file}: ${(err as Error).message}`, { cause: err });
    }
  }

  resultDir(id: string): string {
    if (!JOB_ID.test(id)) throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `Expected a job id but received ${JSON.stringify(id)}`);
    return path.join(this.results, id);
  }

  imageFile(id: string, frame: number): string {
    return path.join(this.resultDir(id), `${frame}.png`);
  }

  /**
   * Publishes a job's PNGs and result.json under its id in one rename. Returns 'kept' when a
   * result set for the id already exists (an earlier run of the job finished first).
   */
  async commitResult(result: JobResult, pngs: Array<{ frame: number; png: Uint8Array }>): Promise<'written' | 'kept'> {
    const final = this.resultDir(result.id);
    const tmp = path.join(this.results, `.tmp-${result.id}-${process.pid}-${randomBytes(4).toString('hex')}`);
    await mkdir(tmp);
    try {
      for (const { frame, png } of pngs) await writeFileAtomic(path.join(tmp, `${frame}.png`), png);
      await writeFileAtomic(path.join(tmp, 'result.json'), Buffer.from(JSON.stringify(result, null, 1)));
      try {
        await rename(tmp, final);
      } catch (err) {
        if (errno(err) === 'ENOTEMPTY' || errno(err) === 'EEXIST') return 'kept';
        throw new IndetailError('ERR_INDETAIL_IO', `cannot publish the results of job ${result.id}: ${(err as Error).message}`, { cause: err });
      }
      await syncDir(this.results);
      return 'written';
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  /** result.json of a job, or undefined while it has none. */
  async readResult(id: string): Promise<JobResult | undefined> {
    try {
      return JSON.parse(await readFile(path.join(this.resultDir(id), 'result.json'), 'utf8')) as JobResult;
    } catch (err) {
      if (errno(err) === 'ENOENT') return undefined;
      throw new IndetailError('ERR_INDETAIL_IO', `cannot read the results of job ${id}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Removes results past their expiry, inputs unused for `inputTtlMs`, and leftovers of crashed writers. */
  async sweep(inputTtlMs: number, now = Date.now()): Promise<SweepCounts> {
    const counts: SweepCounts = { results: 0, inputs: 0, temporary: 0 };
    for (const name of await readdir(this.results)) {
      const dir = path.join(this.results, name);
      if (name.startsWith('.tmp-')) {
        const s = await stat(dir).catch(() => undefined);
        if (s && now - s.mtimeMs > STALE_TEMP_MS) {
          await rm(dir, { recursive: true, force: true });
          counts.temporary++;
        }
        continue;
      }
      if (!JOB_ID.test(name)) continue;
      const result = await this.readResult(name).catch(() => undefined);
      if (result && result.expiresAt <= now) {
        await rm(dir, { recursive: true, force: true });
        counts.results++;
      }
    }
    for (const name of await readdir(this.inputs)) {
      const file = path.join(this.inputs, name);
      const s = await stat(file).catch(() => undefined);
      const stale = name.startsWith('.') ? STALE_TEMP_MS : inputTtlMs;
      if (s && now - s.mtimeMs > stale) {
        await rm(file, { force: true });
        counts.inputs++;
      }
    }
    return counts;
  }
}
