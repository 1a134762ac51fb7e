// Validated, memory-mapped .safetensors files. Opening checks the whole header (sizes, offsets,
// dtypes, overlaps) before any tensor data is read; problems raise ERR_INDETAIL_BAD_FILE.
import { addon, type NativeSafetensors, type NativeSafetensorsEntry } from './native/addon.js';
import { nativeAsync, nativeSync } from './errors.js';
import { Tensor } from './tensor.js';

export type SafetensorsEntry = NativeSafetensorsEntry;

export class SafetensorsFile implements Disposable {
  /** @internal */
  readonly native: NativeSafetensors;
  private entriesCache: SafetensorsEntry[] | undefined;

  /** @internal */
  constructor(native: NativeSafetensors) {
    this.native = native;
  }

  get path(): string {
    return nativeSync(() => this.native.path);
  }
  get byteLength(): number {
    return nativeSync(() => this.native.byteLength);
  }
  get metadata(): Record<string, string> {
    return nativeSync(() => this.native.metadata);
  }
  entries(): SafetensorsEntry[] {
    this.entriesCache ??= nativeSync(() => this.native.entries());
    return this.entriesCache;
  }
  names(): string[] {
    return this.entries().map((e) => e.name);
  }
  has(name: string): boolean {
    return nativeSync(() => this.native.has(name));
  }
  entry(name: string): SafetensorsEntry | undefined {
    return this.entries().find((e) => e.name === name);
  }
  /** The tensor as F32 on the host (I32 stays I32); zero-copy when stored as aligned F32. */
  tensor(name: string): Tensor {
    return new Tensor(nativeSync(() => this.native.tensor(name)));
  }
  /** The tensor in its stored dtype (a view of the mapped file). */
  tensorRaw(name: string): Tensor {
    return new Tensor(nativeSync(() => this.native.tensorRaw(name)));
  }
  close(): void {
    this.native.close();
  }
  [Symbol.dispose](): void {
    this.close();
  }
}

export async function openSafetensors(path: string): Promise<SafetensorsFile> {
  if (typeof path !== 'string' || path.length === 0) {
    throw new TypeError(`Expected a file path for path but received ${typeof path === 'string' ? "''" : typeof path}`);
  }
  const native = await nativeAsync(() => addon().openSafetensors(path));
  return new SafetensorsFile(native);
}

export function openSafetensorsSync(path: string): SafetensorsFile {
  return new SafetensorsFile(nativeSync(() => addon().openSafetensorsSync(path)));
}
