// Runs one job on a worker's resident pipeline: read its images from the store, generate, publish
// the PNGs (with their metadata) and result.json under the job id.
import { TASK_DEFAULTS } from '../pipeline/defaults.js';
import type { IndetailPipeline } from '../pipeline/pipeline.js';
import type { ProgressEvent } from '../pipeline/options.js';
import type { JobData, JobProgress, JobResult, JobReturn } from './job-data.js';
import { callOptions } from './job-params.js';
import type { Store } from './store.js';

export interface JobContext {
  pipeline: IndetailPipeline;
  store: Store;
  workerId: string;
}

/** Progress over the whole job: encode and decode count one unit each, inversion and denoising one per step. */
export function jobProgress(e: ProgressEvent, steps: number): JobProgress {
  const before = { encode: 0, inversion: 1, denoise: 1 + steps, decode: 1 + 2 * steps }[e.phase];
  const units = e.phase === 'encode' || e.phase === 'decode' ? e.step / Math.max(1, e.total) : e.step;
  return { ...e, fraction: Math.min(1, (before + units) / (2 + 2 * steps)) };
}

export async function runJob(ctx: JobContext, id: string, data: JobData, signal: AbortSignal, onProgress: (p: JobProgress) => void): Promise<{ value: JobReturn; written: boolean }> {
  const { task } = data.params;
  const image = await ctx.store.readInput(data.image);
  const control = data.control !== undefined ? await ctx.store.readInput(data.control) : undefined;
  const steps = typeof data.params.steps === 'number' ? data.params.steps : TASK_DEFAULTS[task].steps;
  const result = await ctx.pipeline[task]({
    ...callOptions(data.params),
    image,
    ...(control ? { control } : {}),
    signal,
    onProgress: (e) => onProgress(jobProgress(e, steps)),
  });
  const images = [...(result.reconstruction ? [result.reconstruction] : []), ...result.images];
  const finishedAt = Date.now();
  const record: JobResult = {
    id,
    task,
    worker: ctx.workerId,
    frames: images.map((i) => i.frame),
    parameters: result.parameters,
    timings: result.timings,
    kvCache: result.kvCache.status,
    finishedAt,
    expiresAt: finishedAt + data.resultTtl * 1000,
  };
  const outcome = await ctx.store.commitResult(record, images.map((i) => ({ frame: i.frame, png: i.png })));
  return { value: { worker: ctx.workerId, frames: record.frames, kvCache: record.kvCache, timings: record.timings }, written: outcome === 'written' };
}
