// Loads the native addon (prebuilds/<platform>-<arch>/ first, then build/Release) and describes
// its raw API. Everything else in ts/ goes through the typed wrappers, not through this module.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export type NativeDType = 'f32' | 'f16' | 'bf16' | 'i32';

export interface NativeTensor {
  readonly shape: number[];
  readonly dtype: NativeDType;
  readonly device: 'cpu' | 'cuda';
  readonly backend: string;
  readonly byteLength: number;
  readonly disposed: boolean;
  read(): Promise<Float32Array | Int32Array>;
  readSync(): Float32Array | Int32Array;
  firstNonFinite(): Promise<number>;
  dispose(): void;
  slice(start: number, count: number): NativeTensor;
  reshape(shape: number[]): NativeTensor;
}

export interface NativeMemoryStats {
  inUse: number;
  peak: number;
  cached: number;
  weights: number;
}

export interface NativeTiming {
  seconds: number;
  min: number;
  samples: number[];
  /** 'device': CUDA events around back-to-back launches; 'host': wall clock with a sync per call. */
  timer: 'device' | 'host';
}

export interface NativeEngine {
  readonly backend: string;
  readonly device: 'cpu' | 'cuda';
  readonly computeDtype: NativeDType;
  readonly disposed: boolean;
  tensor(data: Float32Array | Int32Array, shape: number[], dtype?: NativeDType): NativeTensor;
  empty(shape: number[], dtype?: NativeDType): NativeTensor;
  upload(t: NativeTensor, dtype?: NativeDType): NativeTensor;
  prepareWeight(t: NativeTensor, use: 'linear' | 'conv' | 'vector' | 'table'): NativeTensor;
  memoryStats(): NativeMemoryStats;
  synchronize(): Promise<void>;
  op(name: string, args: Record<string, unknown>, options?: { sync?: boolean }): Promise<void>;
  opSync(name: string, args: Record<string, unknown>): void;
  timeOp(name: string, args: Record<string, unknown>, options?: { warmup?: number; iterations?: number; flushL2?: boolean }): Promise<NativeTiming>;
  dispose(): void;
}

export interface NativeSafetensorsEntry {
  name: string;
  dtype: string;
  shape: number[];
  byteOffset: number;
  byteLength: number;
}

export interface NativeSafetensors {
  readonly path: string;
  readonly byteLength: number;
  readonly metadata: Record<string, string>;
  entries(): NativeSafetensorsEntry[];
  has(name: string): boolean;
  tensor(name: string): NativeTensor;
  tensorRaw(name: string): NativeTensor;
  close(): void;
}

export interface NativeBuildInfo {
  version: string;
  napiVersion: number;
  cudaCompiled: boolean;
  cudaArchitectures?: string;
  cudaRuntimeVersion?: string;
  cudaUnavailableReason: string;
  /** CPU kernels in use: generic | avx2 | avx512 | avx512bf16 | amx (capped by INDETAIL_CPU_LEVEL). */
  cpuFeatures: string;
  /** The bf16 GEMM kernels of the CPU precision 'bf16' ('avx512bf16', 'amx'; '' = fp32 kernels on bf16-rounded operands). */
  cpuBf16Kernels: string;
  /** What the CPU offers, whatever INDETAIL_CPU_LEVEL says. */
  cpuLevelDetected: string;
  /** Set when INDETAIL_CPU_LEVEL holds something that is not a level (it is then ignored). */
  cpuLevelProblem?: string;
  threads: number;
}

export interface NativeDevice {
  backend: 'cuda';
  index: number;
  name: string;
  computeCapability: string;
  totalMemory: number;
  /** Free device memory in bytes at the time of the call. */
  freeMemory: number;
  multiprocessors: number;
}

/** A flag native work polls between blocks (engine/core/cancel.h). */
export interface NativeCancelToken {
  cancel(): void;
  readonly cancelled: boolean;
}

export interface NativeAddon {
  Engine: new (backend: string, options?: string) => NativeEngine;
  createCancelToken(): NativeCancelToken;
  /** Check points passed by every cancel token of the process. */
  cancelChecks(): number;
  openSafetensors(path: string): Promise<NativeSafetensors>;
  openSafetensorsSync(path: string): NativeSafetensors;
  backends(): string[];
  devices(): NativeDevice[];
  buildInfo(): NativeBuildInfo;
  setThreads(n: number): void;
  opNames(): string[];
  [key: string]: unknown;
}

// The package root: dist/native/addon.js -> ../..
export const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

let cached: NativeAddon | undefined;

export function addon(): NativeAddon {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  const nodeGypBuild = require('node-gyp-build') as { path(dir: string): string };
  let file: string;
  try {
    file = nodeGypBuild.path(packageRoot);
  } catch (err) {
    const e = new Error(
      `indetail: no native addon found for ${process.platform}-${process.arch} (node ${process.versions.node}). ` +
        `Run "npm rebuild indetail" to compile it (needs CMake and a C++17 compiler). Cause: ${(err as Error).message}`,
    );
    (e as Error & { code: string }).code = 'ERR_INDETAIL_NO_ADDON';
    throw e;
  }
  cached = require(file) as NativeAddon;
  return cached;
}
