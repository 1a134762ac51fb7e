// Small device-side helpers of the pipelines: gathering frames into a batch, scaling.
import type { Engine } from '../engine.js';
import type { Tensor } from '../tensor.js';

/** out[r] = src[index[r]] for every row r (frames along dimension 0), queued without a device round trip. */
export async function gatherFrames(engine: Engine, src: Tensor, index: number[]): Promise<Tensor> {
  const out = engine.empty([index.length, ...src.shape.slice(1)], src.dtype);
  await engine.op('gather_frames', { src, index, out }, { sync: false });
  return out;
}

/** Element count of one frame of a tensor. */
export function frameSize(t: Tensor): number {
  return t.shape.slice(1).reduce((a, b) => a * b, 1);
}
