// Small device-side helpers on engine tensors shared by the pipelines and the models'
// conditioning: gathering frames into a batch, moving a tensor to another engine.
import type { Engine } from './engine.js';
import type { Tensor } from './tensor.js';

/** out[r] = src[index[r]] for every row r (frames along dimension 0), queued without a device round trip. */
export async function gatherFrames(engine: Engine, src: Tensor, index: number[]): Promise<Tensor> {
  const out = engine.empty([index.length, ...src.shape.slice(1)], src.dtype);
  await engine.op('gather_frames', { src, index, out }, { sync: false });
  return out;
}

/**
 * `t` (of engine `from`) on engine `to`: `t` itself when they are the same engine, else a copy
 * through the host (the models of one pipeline may run in different precisions, e.g. SDXL's VAE
 * in bf16 next to an f16 UNet), `t` then disposed. Meant for latents, which are small.
 */
export async function moveTo(to: Engine, t: Tensor, from: Engine): Promise<Tensor> {
  if (to === from) return t;
  try {
    return to.tensor(await t.readFloat32(), t.shape);
  } finally {
    t.dispose();
  }
}
