// Input files and folders, checked before they are opened: images, configs, tokenizer files and
// model folders must be regular files (or folders where a folder is expected). FIFOs, devices and
// sockets are refused by name, a symbolic-link loop is reported as a loop, and reads are bounded
// even where stat reports a size of 0 (/proc files). Opening uses O_NONBLOCK, so a path that
// turns into a FIFO between the check and the open still cannot block the process.
import { constants, type Stats } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { IndetailError } from '../errors.js';

/** What a path is, in words ("a FIFO", "a character device", ...). */
export function describeKind(s: Stats): string {
  if (s.isFile()) return 'a regular file';
  if (s.isDirectory()) return 'a directory';
  if (s.isFIFO()) return 'a FIFO (named pipe)';
  if (s.isCharacterDevice()) return 'a character device';
  if (s.isBlockDevice()) return 'a block device';
  if (s.isSocket()) return 'a socket';
  return 'something else';
}

/** The IndetailError for a failed stat/open of `file` (ERR_INDETAIL_IO), naming the cause. */
export function pathError(what: string, file: string, err: unknown): IndetailError {
  const code = (err as NodeJS.ErrnoException).code;
  const why =
    code === 'ENOENT'
      ? 'does not exist'
      : code === 'ELOOP'
        ? 'is a symbolic link loop (or a chain of more than 40 links)'
        : code === 'ENOTDIR'
          ? 'has a part that is not a folder'
          : code === 'EACCES' || code === 'EPERM'
            ? 'cannot be read (permission denied)'
            : code === 'ENAMETOOLONG'
              ? 'is too long a path'
              : `cannot be read (${(err as Error).message})`;
  return new IndetailError('ERR_INDETAIL_IO', `${what} ${file} ${why}`, { cause: err });
}

async function statOf(what: string, file: string): Promise<Stats> {
  try {
    return await stat(file);
  } catch (err) {
    throw pathError(what, file, err);
  }
}

function formatBytes(n: number): string {
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(n % (1 << 30) === 0 ? 0 : 1)} GiB`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(n % (1 << 20) === 0 ? 0 : 1)} MiB`;
  return `${n} bytes`;
}

function notRegular(what: string, file: string, s: Stats): IndetailError {
  return new IndetailError('ERR_INDETAIL_IO', `${what} ${file} is ${describeKind(s)}, not a regular file`);
}

/** Checks that `file` (symbolic links followed) is a regular file; returns its stat. */
export async function checkRegularFile(what: string, file: string): Promise<Stats> {
  const s = await statOf(what, file);
  if (!s.isFile()) throw notRegular(what, file, s);
  return s;
}

/** Checks that `dir` (symbolic links followed) is a folder. */
export async function checkFolder(what: string, dir: string): Promise<void> {
  const s = await statOf(what, dir);
  if (!s.isDirectory()) throw new IndetailError('ERR_INDETAIL_IO', `${what} ${dir} is ${describeKind(s)}, not a folder`);
}

/** 'file' | 'folder' for a path that is one of them; any other kind is refused. */
export async function fileOrFolder(what: string, p: string): Promise<'file' | 'folder'> {
  const s = await statOf(what, p);
  if (s.isDirectory()) return 'folder';
  if (s.isFile()) return 'file';
  throw new IndetailError('ERR_INDETAIL_IO', `${what} ${p} is ${describeKind(s)}, not a regular file or a folder`);
}

/** Whether `p` exists at all (a dangling link or a loop counts as existing: reading it reports why). */
export async function pathExists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}

export interface ReadRegularFileOptions {
  /** Largest accepted size; more is refused with ERR_INDETAIL_INVALID_ARGUMENT. */
  maxBytes: number;
}

/**
 * The bytes of a regular file, read with a size bound that holds whatever stat reports (files
 * of /proc say 0 bytes and yield more). `what` names the file in messages ("image", "config").
 */
export async function readRegularFile(what: string, file: string, options: ReadRegularFileOptions): Promise<Buffer> {
  const { maxBytes } = options;
  const tooLarge = (size: string) =>
    new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `${what} ${file} is ${size}, above the ${formatBytes(maxBytes)} limit`);
  await checkRegularFile(what, file);
  let handle;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    throw pathError(what, file, err);
  }
  try {
    const s = await handle.stat();
    if (!s.isFile()) throw notRegular(what, file, s);
    if (s.size > maxBytes) throw tooLarge(formatBytes(s.size));
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const want = Math.min(Math.max(s.size - total + 1, 64 * 1024), maxBytes + 1 - total, 16 << 20);
      const buf = Buffer.allocUnsafe(want);
      const { bytesRead } = await handle.read(buf, 0, want, null);
      if (bytesRead === 0) break;
      chunks.push(bytesRead === want ? buf : buf.subarray(0, bytesRead));
      total += bytesRead;
      if (total > maxBytes) throw tooLarge(`more than ${formatBytes(maxBytes)}`);
    }
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
  } catch (err) {
    if (err instanceof IndetailError) throw err;
    throw new IndetailError('ERR_INDETAIL_IO', `${what} ${file} cannot be read (${(err as Error).message})`, { cause: err });
  } finally {
    await handle.close().catch(() => {});
  }
}

/** readRegularFile as UTF-8 text. */
export async function readRegularTextFile(what: string, file: string, options: ReadRegularFileOptions): Promise<string> {
  return (await readRegularFile(what, file, options)).toString('utf8');
}

/** Size limits of the small files a model folder holds. */
export const MAX_CONFIG_FILE_BYTES = 16 << 20;
export const MAX_TOKENIZER_FILE_BYTES = 64 << 20;
