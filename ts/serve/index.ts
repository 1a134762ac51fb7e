// indetail/serve: serving at scale on BullMQ + Redis (one `serve`, N workers, one Redis, one store).
export { createServer, type IndetailServer, type ServerOptions } from './server.js';
export { createWorker, type IndetailWorker, type WorkerOptions } from './worker.js';
export { Tokens } from './auth.js';
export { rendezvousPick, rendezvousRank } from './affinity.js';
export { JOB_OPTION_KEYS, parseJobParameters, type JobParameters } from './job-params.js';
export type { JobProgress, JobResult } from './job-data.js';
export type { JobState, JobStatus } from './jobs.js';
export type { RecoveryOptions } from './queue-source.js';
export type { WorkerInfo, WorkerStats } from './registry.js';
