// An Engine owns one backend ('cpu' or 'cuda') and everything allocated on it. Ops of the
// native op interface can be called by name (tests and benchmarks use this); models and
// pipelines are built on top of an Engine.
import { addon, type NativeEngine, type NativeMemoryStats, type NativeTiming } from './native/addon.js';
import { IndetailError, nativeAsync, nativeSync } from './errors.js';
import { Tensor, type DType } from './tensor.js';
import { resolveBackend } from './backend-select.js';
import { resolvePrecision, type Precision } from './precision.js';
import type { OpArguments, OpName } from './engine-ops.js';

export type { OpActivation, OpArguments, OpAttentionMode, OpName } from './engine-ops.js';

export type BackendName = 'cpu' | 'cuda' | `cuda:${number}`;
export type WeightUse = 'linear' | 'conv' | 'vector' | 'table';
export type MemoryStats = NativeMemoryStats;
export type OpTiming = NativeTiming;

export interface EngineOptions {
  /**
   * 'cpu' (default), 'cuda' / 'cuda:<index>', or 'auto': CUDA when the device probe and GPU
   * self-test pass, else the CPU with one warning naming the reason (see onWarning).
   */
  backend?: 'auto' | BackendName;
  /** For 'auto': receives the CPU-fallback warning (default: process.emitWarning, once per process). */
  onWarning?: (message: string) => void;
  /**
   * Numeric precision (see precision.ts): on the CPU 'f32' (default) or 'bf16' (bf16 weights and
   * dot products, fp32 accumulation, norms and softmax statistics); on CUDA the storage type
   * 'f16' (default) or 'bf16'. 'auto' = the device's default (pipelines also weigh the model).
   */
  precision?: Precision | 'auto';
}

function toNativeArgs<N extends OpName>(args: OpArguments[N]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(args)) out[k] = v instanceof Tensor ? v.native : v;
  return out;
}

export class Engine implements Disposable {
  /** @internal */
  readonly native: NativeEngine;

  constructor(options: EngineOptions = {}) {
    const requested = options.backend ?? 'cpu';
    if (typeof requested !== 'string' || !/^(auto|cpu|cuda(:\d+)?)$/.test(requested)) {
      throw new IndetailError(
        'ERR_INDETAIL_INVALID_ARGUMENT',
        `Expected 'cpu', 'cuda' or 'cuda:<index>' for backend but received ${JSON.stringify(requested)} (or 'auto': CUDA when usable, else the CPU)`,
      );
    }
    const backend = resolveBackend(requested, options.onWarning ? { onWarning: options.onWarning } : {});
    this.precision = resolvePrecision(options.precision === 'auto' ? undefined : options.precision, backend === 'cpu' ? 'cpu' : 'cuda');
    const Native = addon().Engine;
    const precision = this.precision;
    this.native = nativeSync(() => new Native(backend, JSON.stringify({ precision })));
  }

  /** The precision this engine computes in ('f32' / 'bf16' on the CPU, 'f16' / 'bf16' on CUDA). */
  readonly precision: Precision;

  get backend(): string {
    return nativeSync(() => this.native.backend);
  }
  get device(): 'cpu' | 'cuda' {
    return nativeSync(() => this.native.device);
  }
  get computeDtype(): DType {
    return nativeSync(() => this.native.computeDtype);
  }
  get disposed(): boolean {
    return this.native.disposed;
  }

  /** Copies host data onto the backend (float data stored as `dtype`, default the compute dtype). */
  tensor(data: Float32Array | Int32Array, shape: number[], dtype?: DType): Tensor {
    return new Tensor(nativeSync(() => this.native.tensor(data, shape, dtype)));
  }
  /** Uninitialised memory from the backend's allocator. */
  empty(shape: number[], dtype?: DType): Tensor {
    return new Tensor(nativeSync(() => this.native.empty(shape, dtype)));
  }
  /** A host tensor (e.g. from a SafetensorsFile) copied onto the backend. */
  upload(t: Tensor, dtype?: DType): Tensor {
    return new Tensor(nativeSync(() => this.native.upload(t.native, dtype)));
  }
  /** A weight in the layout and dtype the backend's ops expect for `use`. */
  prepareWeight(t: Tensor, use: WeightUse): Tensor {
    return new Tensor(nativeSync(() => this.native.prepareWeight(t.native, use)));
  }
  memoryStats(): MemoryStats {
    return nativeSync(() => this.native.memoryStats());
  }
  synchronize(): Promise<void> {
    return nativeAsync(() => this.native.synchronize());
  }

  /**
   * Runs one op of the native op interface off the main thread. `sync: false` resolves once the
   * op is queued on the backend's stream (later ops and reads are ordered after it). An argument
   * the op does not take is an error naming the op and the key (never a silent default).
   */
  op<N extends OpName>(name: N, args: OpArguments[N], options?: { sync?: boolean }): Promise<void> {
    const a = toNativeArgs(args);
    return nativeAsync(() => this.native.op(name, a, options));
  }
  opSync<N extends OpName>(name: N, args: OpArguments[N]): void {
    const a = toNativeArgs(args);
    nativeSync(() => this.native.opSync(name, a));
  }
  /** Times an op natively (median over `iterations` after `warmup` runs). */
  timeOp<N extends OpName>(name: N, args: OpArguments[N], options?: { warmup?: number; iterations?: number; flushL2?: boolean }): Promise<OpTiming> {
    const a = toNativeArgs(args);
    return nativeAsync(() => this.native.timeOp(name, a, options));
  }

  dispose(): void {
    this.native.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}

export function opNames(): string[] {
  return addon().opNames();
}
