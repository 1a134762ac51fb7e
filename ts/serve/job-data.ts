// What a job carries through the queue and what a worker leaves behind. The server writes JobData,
// the worker reads it; both read JobResult (result.json in the store) and JobEvent (pub/sub).
import type { KVCacheUse } from '../pipeline/kv-cache.js';
import type { ProgressEvent } from '../pipeline/options.js';
import type { JobParameters } from './job-params.js';

export interface JobData {
  /** Format version of this record. */
  v: 1;
  params: JobParameters;
  /** sha256 (hex) of the image prompt's bytes in the store. */
  image: string;
  /** sha256 (hex) of the control image's bytes (structure-guided jobs). */
  control?: string;
  /** The name of the token that submitted the job. */
  owner: string;
  /** Seconds the results are kept after the job finishes. */
  resultTtl: number;
}

/** What the index key of a job holds (see Keys.job). */
export interface JobIndex {
  /** The BullMQ queue holding the job. */
  queue: string;
  owner: string;
  task: string;
  createdAt: number;
  /** Set when the job was cancelled before a worker took it (its BullMQ record is removed then). */
  cancelledAt?: number;
}

/** result.json of a finished job, next to its PNGs. */
export interface JobResult {
  id: string;
  task: string;
  /** The worker that produced these files. */
  worker: string;
  /** Frame numbers of the PNGs ("<frame>.png"): 0 = the image prompt's reconstruction, 1.. = samples. */
  frames: number[];
  /** The generation parameters as the pipeline reports them (also in every PNG). */
  parameters: Record<string, unknown>;
  timings: { encode: number; inversion: number; denoise: number; decode: number; total: number };
  kvCache: KVCacheUse['status'];
  finishedAt: number;
  expiresAt: number;
}

/** The value a worker completes a BullMQ job with. */
export interface JobReturn {
  worker: string;
  frames: number[];
  kvCache: KVCacheUse['status'];
  timings: JobResult['timings'];
}

/** Job progress as stored with job.updateProgress and published to event listeners. */
export interface JobProgress extends ProgressEvent {
  /** 0..1 over the whole job (inversion and denoising steps count equally; encode and decode as one step each). */
  fraction: number;
}

export type JobEvent =
  | { id: string; type: 'running'; worker: string }
  | { id: string; type: 'progress'; progress: JobProgress }
  | { id: string; type: 'completed' | 'failed' | 'cancelled' | 'retrying' | 'requeued'; worker: string; message?: string };

/** The failure reason a cancelled job ends with (BullMQ failedReason). */
export const CANCELLED_REASON = 'cancelled by the client';
