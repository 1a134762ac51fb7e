// Atomic file writes: the data goes to a temporary file in the destination's directory, is
// flushed (fsync), then renamed over the destination. Readers see the old file or the complete new
// one, never a partial file; on any failure the temporary file is removed and an existing
// destination is left untouched.
import { randomBytes } from 'node:crypto';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { IndetailError } from '../errors.js';

export async function writeFileAtomic(file: string, data: Uint8Array | AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<void> {
  if (typeof file !== 'string' || file.length === 0) {
    throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `Expected a file path for path but received ${JSON.stringify(file)}`);
  }
  const dir = path.dirname(path.resolve(file));
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let handle: FileHandle | undefined;
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
    await rename(tmp, file);
  } catch (err) {
    await handle?.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    if (err instanceof IndetailError) throw err;
    throw new IndetailError('ERR_INDETAIL_IO', `cannot write ${file}: ${(err as Error).message}`, { cause: err });
  }
  // Make the rename itself durable; not all platforms allow fsync on a directory.
  try {
    const d = await open(dir, 'r');
    await d.sync().finally(() => d.close());
  } catch {
    /* best effort */
  }
}
