// Where the generation commands write their images, checked before any work, and how the files
// are named so that runs never replace each other's images:
//   <task>-<seed>-<n>.png (n = 1..samples; "reconstruction" for the image prompt's), and when any
//   of these names exists in the folder, the whole run takes the first free run number k >= 2:
//   <task>-<seed>-<n>_<k>.png. --overwrite replaces existing files instead.
// Every file is written atomically (complete or absent). When writing fails after a generation,
// the images go to a fresh folder under the system's temporary directory and the error names it.
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rmdir, stat, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { IndetailError } from '../errors.js';
import { describeKind } from '../files/input-file.js';
import { makeFolders } from '../files/make-folders.js';
import { writeFileAtomic } from '../image/index.js';

export interface OutputImage {
  /** 0 = the image prompt's reconstruction, 1.. = the samples. */
  frame: number;
  png: Uint8Array;
}

function outError(dir: string, why: string, cause?: unknown): IndetailError {
  return new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `cannot use --out ${dir}: ${why}`, cause === undefined ? undefined : { cause });
}

/**
 * Checks that `dir` can receive the images, before any work: an existing folder, or a path that
 * can be created as one, and writable (a probe file is created and removed). Returns a function
 * that removes the folders this created, for a run that ends without writing anything.
 */
export async function prepareOutDir(dir: string): Promise<() => Promise<void>> {
  const s = await stat(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw outError(dir, err.code === 'ELOOP' ? 'it is a symbolic link loop' : err.code === 'ENOTDIR' ? 'a part of the path is a file, not a folder' : err.message, err);
  });
  if (s && !s.isDirectory()) throw outError(dir, `it exists and is ${describeKind(s)}, not a folder`);
  let created: string | undefined;
  if (!s) {
    try {
      created = await makeFolders(path.resolve(dir));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw outError(dir, code === 'ENOTDIR' || code === 'EEXIST' ? 'a part of the path is a file, not a folder' : `the folder cannot be created (${(err as Error).message})`, err);
    }
  }
  const removeCreated = async () => {
    if (created === undefined) return;
    // Only the empty folders this made, deepest first.
    for (let d = path.resolve(dir); d.length >= path.resolve(created).length; d = path.dirname(d)) {
      if (!(await rmdir(d).then(() => true, () => false))) break;
    }
  };
  const probe = path.join(dir, `.indetail-write-test-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    await (await open(probe, 'wx')).close();
    await unlink(probe);
  } catch (err) {
    await removeCreated();
    throw outError(dir, `the folder is not writable (${(err as Error).message})`, err);
  }
  return removeCreated;
}

function fileName(task: string, seed: string, frame: number, run: number): string {
  return `${task}-${seed}-${frame === 0 ? 'reconstruction' : frame}${run > 1 ? `_${run}` : ''}.png`;
}

/** Whether a name is taken (any kind of file); a folder that cannot be searched fails here. */
async function taken(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new IndetailError('ERR_INDETAIL_IO', `cannot write ${file}: ${(err as Error).message}`, { cause: err });
  }
}

const MAX_RUNS = 100_000;

/** The first run number whose names are all free for `frames`, from `from` on. */
async function freeRun(dir: string, task: string, seed: string, frames: number[], from: number): Promise<number> {
  for (let run = from; run <= MAX_RUNS; run++) {
    let free = true;
    for (const f of frames) if (await taken(path.join(dir, fileName(task, seed, f, run)))) free = false;
    if (free) return run;
  }
  throw new IndetailError('ERR_INDETAIL_IO', `${dir} already holds ${MAX_RUNS} runs of ${task} with seed ${seed}`);
}

const isExists = (err: unknown) => ((err as Error).cause as NodeJS.ErrnoException | undefined)?.code === 'EEXIST';

export interface WriteImagesOptions {
  dir: string;
  task: string;
  seed: string;
  overwrite: boolean;
  /** Checked before each file: an interrupted run writes no more files (those written are complete). */
  signal?: AbortSignal;
}

/** Writes the images under the naming scheme above; returns the paths written, in order. */
export async function writeImages(images: OutputImage[], o: WriteImagesOptions): Promise<string[]> {
  const written: string[] = [];
  let run = o.overwrite ? 1 : await freeRun(o.dir, o.task, o.seed, images.map((i) => i.frame), 1);
  for (let k = 0; k < images.length; k++) {
    if (o.signal?.aborted) break;
    const file = path.join(o.dir, fileName(o.task, o.seed, images[k]!.frame, run));
    try {
      await writeFileAtomic(file, images[k]!.png, { overwrite: o.overwrite });
      written.push(file);
    } catch (err) {
      if (!isExists(err)) throw Object.assign(err as Error, { written });
      // Another run took the name meanwhile: the rest of this run moves to the next free number.
      run = await freeRun(o.dir, o.task, o.seed, images.slice(k).map((i) => i.frame), run + 1);
      k--;
    }
  }
  return written;
}

/** The error of a failed write: where every image that could be saved is. */
export type KeptImagesError = IndetailError & { files: string[] };

/**
 * writeImages into `o.dir`; when that fails, the images not yet written go to a new folder under
 * the temporary directory and the error (ERR_INDETAIL_IO, a KeptImagesError) names where every
 * image is.
 */
export async function writeImagesOrKeep(images: OutputImage[], o: WriteImagesOptions): Promise<string[]> {
  try {
    return await writeImages(images, o);
  } catch (err) {
    const done = ((err as { written?: string[] }).written ?? []).slice();
    const rest = images.slice(done.length);
    let kept: string;
    let saved: string[] = [];
    try {
      const fallback = await mkdtemp(path.join(tmpdir(), `indetail-${o.task}-`));
      saved = await writeImages(rest, { ...o, dir: fallback, overwrite: false, signal: undefined });
      kept = `the ${saved.length === 1 ? 'image was' : `${saved.length} images were`} saved instead to ${fallback}: ${saved.map((f) => path.basename(f)).join(', ')}`;
    } catch (again) {
      kept = `saving them under ${tmpdir()} failed too (${(again as Error).message}); they are lost`;
    }
    const before = done.length > 0 ? ` (${done.map((f) => path.basename(f)).join(', ')} had been written)` : '';
    const e = new IndetailError('ERR_INDETAIL_IO', `${(err as Error).message}${before}; ${kept}`, { cause: err });
    throw Object.assign(e, { files: [...done, ...saved] }) as KeptImagesError;
  }
}
