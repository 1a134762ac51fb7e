// What this installation can run on: backends, GPUs, build facts.
import { addon, type NativeBuildInfo, type NativeDevice } from './native/addon.js';
import { IndetailError } from './errors.js';

export type BuildInfo = NativeBuildInfo;
export type DeviceInfo = NativeDevice;

/** Backends usable here: always 'cpu', plus 'cuda' when a GPU and driver work. */
export function backends(): string[] {
  return addon().backends();
}

/** CUDA devices found (empty without a driver or GPU). */
export function devices(): DeviceInfo[] {
  return addon().devices();
}

export function buildInfo(): BuildInfo {
  return addon().buildInfo();
}

/** Threads used by the CPU backend (default: the CPUs this process may use, or INDETAIL_THREADS). */
export function setThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > 1024) {
    throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `Expected an integer between 1 and 1024 for threads but received ${n}`);
  }
  addon().setThreads(n);
}
