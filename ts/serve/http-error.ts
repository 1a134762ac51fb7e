// Errors of the HTTP API: a status and a message, sent as { "error": { "code", "message" } }.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { IndetailError } from '../errors.js';
import { isConnectionError } from './redis.js';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

function describe(err: unknown): { status: number; code: string; message: string } {
  if (err instanceof HttpError) return { status: err.status, code: err.code, message: err.message };
  if (err instanceof IndetailError) {
    if (err.code === 'ERR_INDETAIL_INVALID_ARGUMENT' || err.code === 'ERR_INDETAIL_BAD_FILE' || err.code === 'ERR_INDETAIL_UNSUPPORTED') {
      return { status: 400, code: err.code, message: err.message };
    }
  }
  if (isConnectionError(err)) return { status: 503, code: 'QUEUE_UNAVAILABLE', message: 'the job queue (Redis) is unavailable; retry shortly' };
  const f = err as FastifyError;
  // Fastify's and its plugins' own client errors (bad content type, body too large, malformed multipart, rate limit).
  if (typeof f?.statusCode === 'number' && f.statusCode >= 400 && f.statusCode < 500) {
    return { status: f.statusCode, code: f.code ?? 'BAD_REQUEST', message: f.message };
  }
  return { status: 500, code: 'INTERNAL', message: 'internal error (see the server log)' };
}

export function errorHandler(err: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const { status, code, message } = describe(err);
  if (status >= 500 && status !== 503) request.log.error({ err }, 'request failed');
  else request.log.info({ status, code, msg: message }, 'request refused');
  if (status === 503) void reply.header('retry-after', '1');
  void reply.status(status).send({ error: { code, message } });
}
