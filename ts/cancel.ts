// AbortSignal -> the native CancelToken that long native calls poll between blocks (UNet and
// ControlNet blocks, VAE blocks and tiles): aborting stops a forward within a block, not only
// between steps. The native call then rejects with ERR_INDETAIL_CANCELLED.
import { IndetailError } from './errors.js';
import { addon, type NativeCancelToken } from './native/addon.js';

/**
 * Runs `fn` with a token that is set when `signal` aborts (at once if it already has); no token
 * without a signal. The listener is removed when `fn` settles.
 */
export async function withCancelToken<T>(signal: AbortSignal | undefined, fn: (token: NativeCancelToken | undefined) => Promise<T>): Promise<T> {
  if (signal === undefined) return fn(undefined);
  if (!(signal instanceof AbortSignal)) {
    throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `Expected an AbortSignal for signal but received ${typeof signal}`);
  }
  const token = addon().createCancelToken();
  const onAbort = () => token.cancel();
  if (signal.aborted) token.cancel();
  else signal.addEventListener('abort', onAbort, { once: true });
  try {
    return await fn(token);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/** @internal Check points passed by every cancel token of the process (tests: how often native work polls). */
export function cancelChecks(): number {
  return addon().cancelChecks();
}
