// SIGINT / SIGTERM during a generation command. The first signal aborts the work: native work
// stops before its next UNet/VAE block, files already written stay (every write is atomic), and
// the command exits 130 (SIGINT) or 143 (SIGTERM). Work that cannot stop by itself within a few
// seconds (a model load, a CUDA graph replay) is cut short by exiting; a second signal exits at
// once. Either way the temporary files of writes in progress are removed first.
import { removePendingTemporaryFiles } from '../image/index.js';

export const EXIT_INTERRUPTED: Readonly<Record<'SIGINT' | 'SIGTERM', number>> = Object.freeze({ SIGINT: 130, SIGTERM: 143 });

/** How long a cancelled command may take to stop by itself before the process exits. */
export const STOP_GRACE_MS = 3000;

export interface Interrupt {
  signal: AbortSignal;
  /** 130 / 143 once a signal came, else undefined. */
  readonly exitCode: number | undefined;
  /** While true (writing files), a first signal never cuts the process short. */
  writing: boolean;
  dispose(): void;
}

export function watchInterrupts(): Interrupt {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const state: Interrupt = {
    signal: controller.signal,
    exitCode: undefined,
    writing: false,
    dispose() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      if (timer) clearTimeout(timer);
    },
  };
  const exitNow = (code: number) => {
    removePendingTemporaryFiles();
    process.exit(code);
  };
  function onSignal(name: NodeJS.Signals) {
    const code = EXIT_INTERRUPTED[name as 'SIGINT' | 'SIGTERM'];
    if (controller.signal.aborted) exitNow(code);
    (state as { exitCode: number | undefined }).exitCode = code;
    process.stderr.write(`\nindetail: ${name}: stopping\n`);
    controller.abort(new Error(`interrupted by ${name}`));
    timer = setTimeout(() => {
      if (!state.writing) exitNow(code);
    }, STOP_GRACE_MS);
    timer.unref();
  }
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return state;
}
