// Progress lines on stderr, drawn only when stderr is a terminal: one line rewritten in place.
import type { EvalProgress } from '../eval/run.js';
import type { ProgressEvent } from '../pipeline/options.js';

type Printer<E> = ((e: E) => void) & { done(): void };

function bar(done: number, total: number, width = 30): string {
  const filled = Math.round((done / Math.max(1, total)) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

function linePrinter<E>(format: (e: E) => string, stream: NodeJS.WriteStream): Printer<E> {
  const tty = stream.isTTY === true;
  let last = '';
  const fn = ((e: E) => {
    if (!tty) return;
    const line = format(e);
    if (line !== last) stream.write(`\r${line.padEnd(last.length)}`);
    last = line;
  }) as Printer<E>;
  fn.done = () => {
    if (tty && last) stream.write('\n');
    last = '';
  };
  return fn;
}

/** The steps of one generation. */
export function progressPrinter(stream: NodeJS.WriteStream = process.stderr): Printer<ProgressEvent> {
  return linePrinter((e) => `${e.phase.padEnd(9)} ${bar(e.step, e.total)} ${e.step}/${e.total}  ${e.elapsed.toFixed(1)} s`, stream);
}

/** The units of an evaluation, with the step of the generation in progress. */
export function evalProgressPrinter(stream: NodeJS.WriteStream = process.stderr): Printer<EvalProgress> {
  return linePrinter((e) => {
    const step = e.stage === 'generate' && e.step ? `${e.step.phase} ${e.step.step}/${e.step.total}` : e.stage === 'metrics' ? 'metrics' : 'on disk';
    return `eval ${bar(e.done, e.units, 20)} ${e.done}/${e.units}  ${e.configuration} / ${e.prompt} / seed ${e.seed}  ${step}`;
  }, stream);
}
