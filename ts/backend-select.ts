// Where to run when the caller says backend 'auto': CUDA only when the device probe found a
// usable GPU and the native self-test kernel ran on it (cuda/self_test.cu); otherwise the CPU,
// with one warning that names the reason.
import { addon } from './native/addon.js';

export type ResolvedBackend = 'cpu' | 'cuda' | `cuda:${number}`;

export interface BackendChoiceOptions {
  /**
   * Receives the warning when 'auto' falls back to the CPU because CUDA failed. Default: one
   * `process.emitWarning` per process (type IndetailWarning, code INDETAIL_CPU_FALLBACK).
   */
  onWarning?: (message: string) => void;
  /** Receives a one-line note of the choice. */
  onInfo?: (message: string) => void;
}

/**
 * Runs the CUDA device probe and self-test on a worker thread (once per process; the first run
 * loads the driver and creates a context, which can take seconds). Resolves with the reason
 * CUDA is unusable, or '' when it is usable. Later synchronous calls (backends(), new Engine)
 * reuse the result.
 */
export async function probeCuda(): Promise<string> {
  const native = addon() as unknown as { probeCuda?: () => Promise<string> };
  if (typeof native.probeCuda === 'function') return native.probeCuda();
  return addon().buildInfo().cudaUnavailableReason;
}

/** The reason CUDA is unusable ('' when usable). Synchronous: probes on first use. */
export function cudaUnavailableReason(): string {
  return addon().buildInfo().cudaUnavailableReason;
}

function disabledByUser(): boolean {
  const v = process.env.INDETAIL_DISABLE_CUDA;
  return v !== undefined && v !== '' && v !== '0';
}

let processWarned = false;
function warnOncePerProcess(message: string): void {
  if (processWarned) return;
  processWarned = true;
  process.emitWarning(message, { type: 'IndetailWarning', code: 'INDETAIL_CPU_FALLBACK' });
}

/** The message of the CPU-fallback warning for a reason. */
export function cpuFallbackMessage(reason: string): string {
  return `CUDA is not used, running on the CPU (much slower): ${reason}`;
}

/**
 * Resolves 'auto' to 'cuda' or 'cpu'; any other name is returned as given. A fallback caused by
 * a CUDA failure is reported once through `onWarning`; switching CUDA off on purpose
 * (INDETAIL_DISABLE_CUDA) is only noted through `onInfo`.
 */
export function resolveBackend(requested: 'auto' | ResolvedBackend, options: BackendChoiceOptions = {}): ResolvedBackend {
  if (requested !== 'auto') return requested;
  const reason = cudaUnavailableReason();
  if (reason === '') {
    const d = addon().devices()[0];
    options.onInfo?.(`using the CUDA backend${d ? ` (device 0: ${d.name}, compute capability ${d.computeCapability})` : ''}`);
    return 'cuda';
  }
  if (disabledByUser()) {
    options.onInfo?.(`using the CPU backend (${reason})`);
    return 'cpu';
  }
  (options.onWarning ?? warnOncePerProcess)(cpuFallbackMessage(reason));
  return 'cpu';
}
