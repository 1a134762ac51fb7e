// A tensor owned by an engine backend (or a host view of a checkpoint). Release it with
// dispose() or a `using` declaration; reading copies it into a new Float32Array/Int32Array.
import type { NativeDType, NativeTensor } from './native/addon.js';
import { nativeAsync, nativeSync } from './errors.js';

export type DType = NativeDType;

export class Tensor implements Disposable {
  /** @internal */
  readonly native: NativeTensor;

  /** @internal */
  constructor(native: NativeTensor) {
    this.native = native;
  }

  get shape(): number[] {
    return nativeSync(() => this.native.shape);
  }
  get dtype(): DType {
    return nativeSync(() => this.native.dtype);
  }
  get device(): 'cpu' | 'cuda' {
    return nativeSync(() => this.native.device);
  }
  /** 'cpu', 'cuda:0', or 'host' for tensors read from files. */
  get backend(): string {
    return nativeSync(() => this.native.backend);
  }
  get byteLength(): number {
    return nativeSync(() => this.native.byteLength);
  }
  get disposed(): boolean {
    return this.native.disposed;
  }
  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  /** Copies the values to the JavaScript heap (F16/BF16 widened to F32) without blocking. */
  read(): Promise<Float32Array | Int32Array> {
    return nativeAsync(() => this.native.read());
  }
  readSync(): Float32Array | Int32Array {
    return nativeSync(() => this.native.readSync());
  }
  async readFloat32(): Promise<Float32Array> {
    const data = await this.read();
    return data instanceof Float32Array ? data : Float32Array.from(data);
  }
  /** Index of the first NaN or ±Inf value (in the order of read()), or -1; without copying to the JavaScript heap. */
  firstNonFinite(): Promise<number> {
    return nativeAsync(() => this.native.firstNonFinite());
  }

  /** Frames [start, start + count) of the first dimension: a view sharing this tensor's memory. */
  slice(start: number, count = 1): Tensor {
    return new Tensor(nativeSync(() => this.native.slice(start, count)));
  }
  /** The same memory with another shape (one entry may be -1). */
  reshape(shape: number[]): Tensor {
    return new Tensor(nativeSync(() => this.native.reshape(shape)));
  }

  dispose(): void {
    this.native.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}
