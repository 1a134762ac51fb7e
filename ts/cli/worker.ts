// `indetail worker`: one BullMQ worker process with one resident pipeline (run one per GPU).
import type { Argv, CommandModule } from 'yargs';
import { IndetailError } from '../errors.js';
import { modelFlags, modelSource, type ModelFlagArgs } from './model-flags.js';
import { precisionFlag, precisionOption } from './precision-flag.js';
import { deployment, deploymentOptions, logger, parseBytes, parseDuration, untilSignal, type DeploymentArgs } from './deployment.js';

interface WorkerArgs extends DeploymentArgs, ModelFlagArgs {
  backend: string;
  precision?: string;
  'cache-bytes'?: string;
  id?: string;
  'lock-duration'?: string;
  'stalled-interval'?: string;
  'max-stalled'?: number;
  heartbeat?: string;
  'shutdown-grace': string;
}

function builder(y: Argv) {
  return modelFlags(deploymentOptions(y), { required: false, describe: 'ControlNet folder or .safetensors (for structure-guided jobs)' })
    .option('backend', { type: 'string', default: 'auto', describe: 'auto, cpu, cuda or cuda:N (one worker per GPU)' })
    .option('precision', precisionFlag)
    .option('cache-bytes', { type: 'string', describe: 'image-prompt K/V cache budget, e.g. 8GiB (0 disables; default: the pipeline\'s)' })
    .option('id', { type: 'string', describe: 'stable worker name (default <host>-<pid>); a restarted worker with the same id takes its queue back' })
    .option('lock-duration', { type: 'string', describe: 'job lock duration; a dead worker\'s job is recovered after it (default 30s)' })
    .option('stalled-interval', { type: 'string', describe: 'period of the stalled-job check (default 30s)' })
    .option('max-stalled', { type: 'number', describe: 'times a job may stall (its worker died) before it fails (default 2)' })
    .option('heartbeat', { type: 'string', describe: 'heartbeat period; dead after 3 missed beats (default 5s)' })
    .option('shutdown-grace', { type: 'string', default: '30s', describe: 'on SIGTERM, how long the running job may finish before it is handed back' })
    .example('$0 worker --redis redis://127.0.0.1:6379 --store /srv/indetail --model ./stable-diffusion-v1-5 --backend cuda:0 --id gpu0', '')
    .strict();
}

const ms = (flag: string, v: string | undefined) => {
  const s = parseDuration(flag, v);
  return s === undefined ? undefined : s * 1000;
};

async function handler(a: WorkerArgs): Promise<void> {
  if (!/^(auto|cpu|cuda(:\d+)?)$/.test(a.backend)) {
    throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `Expected auto, cpu, cuda or cuda:N for --backend but received '${a.backend}'`);
  }
  const graceMs = ms('--shutdown-grace', a['shutdown-grace'])!;
  const cacheBytes = parseBytes('--cache-bytes', a['cache-bytes']);
  const lockDuration = ms('--lock-duration', a['lock-duration']);
  const stalledInterval = ms('--stalled-interval', a['stalled-interval']);
  const heartbeatMs = ms('--heartbeat', a.heartbeat);
  const { createWorker } = await import('../serve/worker.js');
  const worker = await createWorker({
    ...deployment(a),
    ...modelSource(a),
    backend: a.backend as 'auto',
    ...precisionOption(a.precision),
    ...(cacheBytes !== undefined ? { cacheBytes } : {}),
    ...(a.id ? { id: a.id } : {}),
    recovery: {
      ...(lockDuration !== undefined ? { lockDuration } : {}),
      ...(stalledInterval !== undefined ? { stalledInterval } : {}),
      ...(a['max-stalled'] !== undefined ? { maxStalledCount: a['max-stalled'] } : {}),
    },
    ...(heartbeatMs !== undefined ? { heartbeatMs } : {}),
    logger: await logger('indetail-worker', a['log-level']),
  });
  // SIGTERM: no new jobs, the running one finishes (or is handed back after the grace period); a second signal hands it back at once.
  await Promise.race([untilSignal(() => void worker.close({ graceMs: 0 })).then(() => worker.close({ graceMs })), worker.closed]);
  await worker.closed;
}

export const workerCommand: CommandModule<object, WorkerArgs> = {
  command: 'worker',
  describe: 'Run jobs from the queue on one resident pipeline (one process per GPU)',
  builder: builder as unknown as CommandModule<object, WorkerArgs>['builder'],
  handler,
};
