// A one-line progress bar on stderr, drawn only when stderr is a terminal.
import type { ProgressEvent } from '../pipeline/options.js';

export function progressPrinter(stream: NodeJS.WriteStream = process.stderr): ((e: ProgressEvent) => void) & { done(): void } {
  const tty = stream.isTTY === true;
  let last = '';
  const fn = ((e: ProgressEvent) => {
    if (!tty) return;
    const width = 30;
    const filled = Math.round((e.step / Math.max(1, e.total)) * width);
    const line = `${e.phase.padEnd(9)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${e.step}/${e.total}  ${e.elapsed.toFixed(1)} s`;
    if (line !== last) stream.write(`\r${line}`);
    last = line;
  }) as ((e: ProgressEvent) => void) & { done(): void };
  fn.done = () => {
    if (tty && last) stream.write('\n');
  };
  return fn;
}
