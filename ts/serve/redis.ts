// Redis connections (ioredis) for the server and the workers. Both reconnect forever; they differ
// in what a command does while Redis is away: a worker's commands wait for the reconnection
// (BullMQ requires it), the server's fail fast so that an HTTP request gets a 503 instead of hanging.
import { Redis, type RedisOptions } from 'ioredis';
import { IndetailError } from '../errors.js';

export type RedisRole = 'worker' | 'server' | 'subscriber';

export interface RedisLog {
  warn(obj: object, msg: string): void;
}

export function checkRedisUrl(url: unknown): string {
  let parsed: URL | undefined;
  try {
    parsed = typeof url === 'string' ? new URL(url) : undefined;
  } catch {
    parsed = undefined;
  }
  if (!parsed || (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') || !parsed.hostname) {
    throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `Expected a redis://host:port[/db] or rediss:// URL for redis but received ${JSON.stringify(url)}`);
  }
  return url as string;
}

export function connectRedis(url: string, role: RedisRole, log?: RedisLog): Redis {
  const options: RedisOptions = {
    maxRetriesPerRequest: role === 'server' ? 1 : null,
    connectTimeout: 5000,
    retryStrategy: (times) => Math.min(100 * times, 2000),
    connectionName: `indetail-${role}`,
  };
  const redis = new Redis(checkRedisUrl(url), options);
  let lastWarning = 0;
  redis.on('error', (err: Error) => {
    // ioredis retries by itself; say so at most every 5 s instead of once per attempt.
    const now = Date.now();
    if (now - lastWarning < 5000) return;
    lastWarning = now;
    log?.warn({ err: err.message, role }, 'redis connection error (reconnecting)');
  });
  return redis;
}

/** True for errors that mean "Redis is not reachable right now" rather than a bad command. */
export function isConnectionError(err: unknown): boolean {
  const e = err as { name?: string; message?: string; code?: string } | null;
  if (!e) return false;
  if (e.name === 'MaxRetriesPerRequestError') return true;
  if (e.code === 'ECONNREFUSED' || e.code === 'ECONNRESET' || e.code === 'EPIPE' || e.code === 'ETIMEDOUT') return true;
  return /Connection is closed|Stream isn't writeable|connect E|LOADING/.test(e.message ?? '');
}
