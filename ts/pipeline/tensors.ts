// Small device-side helpers of the pipelines: gathering frames into a batch, scaling.
import type { Engine } from '../engine.js';
import type { Tensor } from '../tensor.js';

/** out[r] = src[index[r]] for every row r (frames along dimension 0). */
export async function gatherFrames(engine: Engine, src: Tensor, index: number[]): Promise<Tensor> {
  const shape = src.shape;
  const out = engine.empty([index.length, ...shape.slice(1)], src.dtype);
  for (let r = 0; r < index.length; r++) {
    await engine.op('copy', { src: src.slice(index[r]!, 1), dst: out.slice(r, 1) });
  }
  return out;
}

/** Element count of one frame of a tensor. */
export function frameSize(t: Tensor): number {
  return t.shape.slice(1).reduce((a, b) => a * b, 1);
}
