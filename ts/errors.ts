// Errors thrown by indetail. Native errors carry a `code` (ERR_INDETAIL_*); they are rethrown
// with the JavaScript stack of the call that started the work.

export type ErrorCode =
  | 'ERR_INDETAIL_INVALID_ARGUMENT'
  | 'ERR_INDETAIL_BAD_FILE'
  | 'ERR_INDETAIL_IO'
  | 'ERR_INDETAIL_UNSUPPORTED'
  | 'ERR_INDETAIL_DEVICE'
  | 'ERR_INDETAIL_CANCELLED'
  | 'ERR_INDETAIL_NOT_FINITE'
  | 'ERR_INDETAIL_INTERNAL'
  | 'ERR_INDETAIL_OUT_OF_MEMORY'
  | 'ERR_INDETAIL_DISPOSED'
  | 'ERR_INDETAIL_NO_ADDON';

export class IndetailError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'IndetailError';
    this.code = code;
  }
}

// Errors a user can fix (bad input, bad files, unsupported requests) versus bugs/device faults.
export function isUserError(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  return (
    code === 'ERR_INDETAIL_INVALID_ARGUMENT' ||
    code === 'ERR_INDETAIL_BAD_FILE' ||
    code === 'ERR_INDETAIL_IO' ||
    code === 'ERR_INDETAIL_UNSUPPORTED' ||
    code === 'ERR_INDETAIL_CANCELLED' ||
    code === 'ERR_INDETAIL_NOT_FINITE'
  );
}

function convert(err: unknown, trace: Error): unknown {
  if (err instanceof IndetailError) return err;
  const e = err as { code?: unknown; message?: unknown } | null;
  if (e && typeof e.code === 'string' && e.code.startsWith('ERR_INDETAIL_') && typeof e.message === 'string') {
    const out = new IndetailError(e.code as ErrorCode, e.message, { cause: err });
    out.stack = `IndetailError: ${e.message}\n${(trace.stack ?? '').split('\n').slice(1).join('\n')}`;
    return out;
  }
  return err;
}

// Runs a synchronous native call, converting its errors.
export function nativeSync<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw convert(err, new Error());
  }
}

// Awaits a native promise; the error gets the stack of the caller (captured before the await).
export async function nativeAsync<T>(fn: () => Promise<T>): Promise<T> {
  const trace = new Error();
  try {
    return await fn();
  } catch (err) {
    throw convert(err, trace);
  }
}
