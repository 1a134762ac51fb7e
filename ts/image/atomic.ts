// Atomic file writes: the data goes to a temporary file in the destination's directory, is
// flushed (fsync), then renamed over the destination. Readers see the old file or the complete new
// one, never a partial file; on any failure the temporary file is removed and an existing
// destination is left untouched. With { overwrite: false } an existing destination is never
// replaced: the temporary file is hard-linked to the name, which fails if the name exists, even
// when another process claims it at the same moment (ERR_INDETAIL_IO, cause code EEXIST).
import { randomBytes } from 'node:crypto';
import { unlinkSync } from 'node:fs';
import { link, open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { IndetailError } from '../errors.js';

// Temporary files of writes in progress, for a process that must exit in the middle of one.
const pending = new Set<string>();

/** Removes the temporary files of writes still in progress (a process exiting at once, e.g. on a second Ctrl-C). */
export function removePendingTemporaryFiles(): void {
  for (const tmp of pending) {
    try {
      unlinkSync(tmp);
    } catch {
      /* already renamed or removed */
    }
  }
  pending.clear();
}

export interface WriteFileAtomicOptions {
  /** false: fail (cause code EEXIST) instead of replacing an existing file. Default true. */
  overwrite?: boolean;
}

// Without hard links (some FUSE / FAT file systems) an existence check before the rename is the
// best there is.
async function claim(tmp: string, file: string): Promise<void> {
  try {
    await link(tmp, file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EXDEV') throw err;
    if (await stat(file).then(() => true, () => false)) throw Object.assign(new Error(`${file} exists`), { code: 'EEXIST' });
    await rename(tmp, file);
    return;
  }
  await unlink(tmp);
}

export async function writeFileAtomic(
  file: string,
  data: Uint8Array | AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: WriteFileAtomicOptions = {},
): Promise<void> {
  if (typeof file !== 'string' || file.length === 0) {
    throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `Expected a file path for path but received ${JSON.stringify(file)}`);
  }
  const dir = path.dirname(path.resolve(file));
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let handle: FileHandle | undefined;
  pending.add(tmp);
  try {
    handle = await open(tmp, 'wx', 0o666);
    if (data instanceof Uint8Array) {
      await handle.writeFile(data);
    } else {
      for await (const chunk of data) await handle.write(chunk);
    }
    await handle.sync();
    await handle.close();
    handle = undefined;
    if (options.overwrite === false) await claim(tmp, file);
    else await rename(tmp, file);
  } catch (err) {
    await handle?.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    if (err instanceof IndetailError) throw err;
    throw new IndetailError('ERR_INDETAIL_IO', `cannot write ${file}: ${(err as Error).message}`, { cause: err });
  } finally {
    pending.delete(tmp);
  }
  // Make the rename itself durable; not all platforms allow fsync on a directory.
  try {
    const d = await open(dir, 'r');
    await d.sync().finally(() => d.close());
  } catch {
    /* best effort */
  }
}
