// vae_encode: AutoencoderKL.encode(image).latent_dist -> mean, logvar; latents_scaled = mean × scaling_factor.
// The fixture image is NCHW; the engine is NHWC. Tiling is off: the goldens are single passes.
import { Engine, VAE, openSafetensors } from '../../../dist/index.js';
import { assertClose } from '../../helpers/compare.mjs';
import { assertCaseTensors, modelDir } from '../../helpers/fixtures.mjs';
import { nchwToNhwc, nhwcToNchw } from '../../helpers/layout.mjs';

export const kind = 'vae_encode';

const loaded = new Map();

// One engine and one VAE per fixture model directory, shared by the vae_* handlers.
export function tinyVae(ctx) {
  const dir = modelDir(ctx, 'diffusers', 'vae');
  if (!loaded.has(dir)) {
    const engine = new Engine({ backend: 'cpu' });
    loaded.set(dir, VAE.load(engine, { dir, tiling: { mode: 'never' } }).then((vae) => ({ engine, vae })));
  }
  return loaded.get(dir);
}

export async function readGolden(file, names) {
  const f = await openSafetensors(file);
  try {
    const out = {};
    for (const n of names) {
      const t = f.tensor(n);
      out[n] = { data: await t.readFloat32(), shape: t.shape };
      t.dispose();
    }
    return out;
  } finally {
    f.close();
  }
}

// Compares an NHWC engine tensor with an NCHW golden tensor; returns the max abs error.
export async function compareNchw(t, tensor, golden, tolerance, label) {
  const [n, h, w, c] = tensor.shape;
  const ours = nhwcToNchw(await tensor.readFloat32(), [n, h, w, c]);
  const s = assertClose(ours, golden.data, { atol: tolerance.abs ?? 0, rtol: tolerance.rel ?? 0 }, label);
  t.diagnostic(`${label}: max abs error ${s.maxAbs.toExponential(2)} (tolerance ${tolerance.abs})`);
  return s.maxAbs;
}

// The case's scaling factor must be the model's (the handlers scale with the model's).
export function checkScalingFactor(c, vae) {
  const want = c.parameters?.scaling_factor;
  if (want !== undefined && Math.abs(vae.scalingFactor - want) > 1e-9) {
    throw new Error(`${c.name}: the model's scaling_factor ${vae.scalingFactor} differs from the case's ${want}`);
  }
}

export async function run(c, ctx) {
  assertCaseTensors(c, { inputs: ['image'], outputs: ['latent_mean', 'latent_logvar', 'latents_scaled'] });
  const { engine, vae } = await tinyVae(ctx);
  checkScalingFactor(c, vae);
  const g = await readGolden(ctx.file, ['image', 'latent_mean', 'latent_logvar', 'latents_scaled']);
  const [n, ch, h, w] = g.image.shape;
  const image = engine.tensor(nchwToNhwc(g.image.data, [n, ch, h, w]), [n, h, w, ch]);
  const { mean, logvar } = await vae.encode(image);
  await compareNchw(ctx.t, mean, g.latent_mean, c.tolerance, `${c.name} latent_mean`);
  await compareNchw(ctx.t, logvar, g.latent_logvar, c.tolerance, `${c.name} latent_logvar`);
  const scaled = await vae.encodeScaled(image);
  await compareNchw(ctx.t, scaled, g.latents_scaled, c.tolerance, `${c.name} latents_scaled`);
  for (const t of [image, mean, logvar, scaled]) t.dispose();
}
