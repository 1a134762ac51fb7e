// vae_decode: AutoencoderKL.decode(latents_scaled / scaling_factor).sample (not clamped), from
// both the unscaled `latents` (decode) and `latents_scaled` (decodeScaled). NCHW fixtures, NHWC engine.
import { nchwToNhwc } from '../../helpers/layout.mjs';
import { assertCaseTensors } from '../../helpers/fixtures.mjs';
import { checkScalingFactor, compareNchw, readGolden, tinyVae } from './vae_encode.mjs';

export const kind = 'vae_decode';

export async function run(c, ctx) {
  assertCaseTensors(c, { inputs: ['latents', 'latents_scaled'], outputs: ['image'] });
  const { engine, vae } = await tinyVae(ctx);
  checkScalingFactor(c, vae);
  const g = await readGolden(ctx.file, ['latents', 'latents_scaled', 'image']);
  const [n, ch, h, w] = g.latents.shape;
  const latents = engine.tensor(nchwToNhwc(g.latents.data, [n, ch, h, w]), [n, h, w, ch]);
  const scaled = engine.tensor(nchwToNhwc(g.latents_scaled.data, [n, ch, h, w]), [n, h, w, ch]);
  const image = await vae.decode(latents);
  await compareNchw(ctx.t, image, g.image, c.tolerance, `${c.name} image (decode latents)`);
  const image2 = await vae.decodeScaled(scaled);
  await compareNchw(ctx.t, image2, g.image, c.tolerance, `${c.name} image (decodeScaled latents_scaled)`);
  for (const t of [latents, scaled, image, image2]) t.dispose();
}
