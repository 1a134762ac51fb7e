// Golden cases of kind 'controlnet': the ControlNet residuals (down + mid, conditioning scale
// 1 and 0.5) of the tiny model and the UNet output using them. The conditioning image has one
// frame, shared by the batch (the reference repeats it).
import assert from 'node:assert/strict';
import { assertCaseTensors } from '../../helpers/fixtures.mjs';
import { expectNchw, withControlNetInputs } from './unet.mjs';

export const kind = 'controlnet';

export async function run(c, ctx) {
  assert.equal(c.parameters.guess_mode ?? false, false, `${c.name}: guess_mode is not implemented`);
  const residuals = Object.keys(c.outputs).filter((n) => /^down_residual_\d+$/.test(n));
  assertCaseTensors(c, { inputs: ['sample', 'timestep', 'encoder_hidden_states', 'controlnet_cond'], outputs: [...residuals, 'mid_residual', 'noise_pred'] });
  await withControlNetInputs(ctx, async ({ unet: u, controlnet: cn, g, sample, context, cond, keep }) => {
    const timesteps = g.read('timestep').data[0];
    const res = await cn.forward({ sample, timesteps, context, cond, scale: c.parameters.conditioning_scale });
    res.down.forEach(keep);
    keep(res.mid);
    for (const name of Object.keys(c.outputs)) {
      const m = /^down_residual_(\d+)$/.exec(name);
      if (m) await expectNchw(ctx.t, res.down[Number(m[1])], g.read(name), c.tolerance, `${c.name}.${name}`);
    }
    await expectNchw(ctx.t, res.mid, g.read('mid_residual'), c.tolerance, `${c.name}.mid_residual`);
    const out = keep(await u.forward({ sample, timesteps, context, control: res }));
    await expectNchw(ctx.t, out, g.read('noise_pred'), c.tolerance, `${c.name}.noise_pred`);
  });
}
