// What `indetail serve` and `indetail worker` share: the deployment options (Redis, queue name,
// store, logging), byte and duration arguments, and running until SIGTERM / SIGINT.
import type { Argv } from 'yargs';
import type { Logger } from 'pino';
import { IndetailError } from '../errors.js';

export interface DeploymentArgs {
  redis: string;
  queue: string;
  store: string;
  'log-level': string;
}

export function deploymentOptions<T>(y: Argv<T>) {
  return y
    .option('redis', { type: 'string', demandOption: true, describe: 'Redis URL, e.g. redis://127.0.0.1:6379' })
    .option('queue', { type: 'string', default: 'indetail', describe: 'queue name (the server and its workers use the same)' })
    .option('store', { type: 'string', demandOption: true, describe: 'store directory shared by the server and the workers (inputs and results)' })
    .option('log-level', { choices: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, default: 'info', describe: 'log level (JSON lines on stdout)' });
}

/** The options createServer() and createWorker() take from the shared flags. */
export function deployment(a: DeploymentArgs): { redis: string; queue: string; store: string } {
  return { redis: a.redis, queue: a.queue, store: a.store };
}

/** A pino logger (loaded on demand: the other commands never load the serving stack). */
export async function logger(name: string, level: string): Promise<Logger> {
  const { pino } = await import('pino');
  return pino({ name, level });
}

function invalid(message: string): never {
  throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', message);
}

const BYTE_UNITS: Record<string, number> = { '': 1, k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9, t: 1e12, tb: 1e12, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40 };

/** "4000000", "512MiB", "4GB", "1.5g" -> bytes. */
export function parseBytes(flag: string, s: string | number | undefined): number | undefined {
  if (s === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(String(s).trim());
  const unit = m ? BYTE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) invalid(`Expected a number of bytes such as 4000000, 512MiB or 4GB for ${flag} but received '${s}'`);
  return Math.floor(Number(m[1]) * unit);
}

const DURATION_UNITS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };

/** "30", "30s", "500ms", "10m", "24h", "7d" -> seconds (a bare number is `bareUnit`). */
export function parseDuration(flag: string, s: string | number | undefined, bareUnit: 's' | 'ms' = 's'): number | undefined {
  if (s === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/i.exec(String(s).trim());
  if (!m) invalid(`Expected a duration such as 30s, 500ms, 10m or 24h for ${flag} but received '${s}'`);
  return Number(m[1]) * DURATION_UNITS[(m[2] ?? bareUnit).toLowerCase()]!;
}

/** Resolves on the first SIGTERM or SIGINT; `onSecond` runs on a second one. */
export function untilSignal(onSecond: () => void): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let count = 0;
    const handler = (signal: NodeJS.Signals) => {
      count++;
      if (count === 1) resolve(signal);
      else onSecond();
    };
    process.on('SIGTERM', handler);
    process.on('SIGINT', handler);
  });
}
