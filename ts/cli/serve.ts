// `indetail serve`: the HTTP API in front of the queue.
import type { Argv, CommandModule } from 'yargs';
import type { Tokens } from '../serve/auth.js';
import { deployment, deploymentOptions, logger, parseBytes, parseDuration, untilSignal, type DeploymentArgs } from './deployment.js';

const TOKENS_VARIABLE = 'INDETAIL_TOKENS';

interface ServeArgs extends DeploymentArgs {
  host: string;
  port: number;
  'tokens-file'?: string;
  'insecure-no-auth'?: boolean;
  'max-upload': string;
  'max-image-pixels': number;
  'max-image-side': number;
  'max-samples': number;
  'result-ttl': string;
  attempts: number;
  'rate-submit': number;
  'rate-read': number;
  'rate-limit': boolean;
  affinity: boolean;
  'affinity-depth': number;
}

function builder(y: Argv) {
  return deploymentOptions(y)
    .option('host', { type: 'string', default: '127.0.0.1', describe: 'address to listen on' })
    .option('port', { type: 'number', default: 8080, describe: 'port (0: any free port)' })
    .option('tokens-file', { type: 'string', describe: `bearer tokens, one "name:token" (or "token") a line; or set ${TOKENS_VARIABLE}=name:token,...` })
    .option('insecure-no-auth', { type: 'boolean', describe: 'accept requests without a token (local experiments only)' })
    .option('max-upload', { type: 'string', default: '20MiB', describe: 'largest uploaded file' })
    .option('max-image-pixels', { type: 'number', default: 25_000_000, describe: 'largest width × height of an uploaded image' })
    .option('max-image-side', { type: 'number', default: 8192, describe: 'largest width or height of an uploaded image' })
    .option('max-samples', { type: 'number', default: 8, describe: 'most images one job may ask for' })
    .option('result-ttl', { type: 'string', default: '24h', describe: 'how long results are kept after a job ends' })
    .option('attempts', { type: 'number', default: 3, describe: 'runs of a job that keeps failing before it fails for good (bad input fails at once)' })
    .option('rate-limit', { type: 'boolean', default: true, describe: 'per-token rate limits (--no-rate-limit turns them off)' })
    .option('rate-submit', { type: 'number', default: 120, describe: 'submissions per token and minute' })
    .option('rate-read', { type: 'number', default: 1200, describe: 'other requests per token and minute' })
    .option('affinity', { type: 'boolean', default: true, describe: 'route jobs to the worker that caches their image prompt (--no-affinity: shared queue only)' })
    .option('affinity-depth', { type: 'number', default: 1, describe: 'jobs waiting at that worker from which on new ones go to the shared queue' })
    .example('INDETAIL_TOKENS=alice:$(openssl rand -hex 24) $0 serve --redis redis://127.0.0.1:6379 --store /srv/indetail', '')
    .strict();
}

async function tokensOf(a: ServeArgs): Promise<Tokens | undefined> {
  const { Tokens } = await import('../serve/auth.js');
  if (a['tokens-file']) return Tokens.fromFile(a['tokens-file']);
  const env = process.env[TOKENS_VARIABLE];
  return env ? Tokens.fromEnv(env, TOKENS_VARIABLE) : undefined;
}

async function handler(a: ServeArgs): Promise<void> {
  const log = await logger('indetail-serve', a['log-level']);
  const tokens = await tokensOf(a);
  const { createServer } = await import('../serve/server.js');
  const server = await createServer({
    ...deployment(a),
    host: a.host,
    port: a.port,
    ...(tokens ? { tokens } : {}),
    insecureNoAuth: a['insecure-no-auth'] === true,
    maxUploadBytes: parseBytes('--max-upload', a['max-upload'])!,
    maxImagePixels: a['max-image-pixels'],
    maxImageSide: a['max-image-side'],
    maxSamples: a['max-samples'],
    resultTtl: Math.round(parseDuration('--result-ttl', a['result-ttl'])!),
    attempts: a.attempts,
    rateLimit: a['rate-limit'] ? { submitPerMinute: a['rate-submit'], readPerMinute: a['rate-read'] } : false,
    affinity: a.affinity,
    affinityDepth: a['affinity-depth'],
    logger: log,
  });
  const url = await server.listen();
  log.info({ url, tokens: tokens?.size ?? 0 }, 'indetail serve listening');
  await untilSignal(() => process.exit(1));
  await server.close();
}

export const serveCommand: CommandModule<object, ServeArgs> = {
  command: 'serve',
  describe: 'The HTTP API: queue jobs for the workers, report progress, serve results and metrics',
  builder: builder as unknown as CommandModule<object, ServeArgs>['builder'],
  handler,
};
