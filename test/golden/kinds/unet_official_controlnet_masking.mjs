// Golden case 'unet_official_controlnet_masking': the official src/unet.py forward with the
// ControlNet run on the full batch [uncond: P, G1..] + [cond: P, G1..] and its residuals
// zeroed per row: while the step index is below gm_end_tsidx, every uncond row and the cond P
// row; afterwards only the two P rows. Here the rule becomes the UNet's per-frame control scale.
import assert from 'node:assert/strict';
import { assertCaseTensors } from '../../helpers/fixtures.mjs';
import { expectNchw, withControlNetInputs } from './unet.mjs';

export const kind = 'unet_official_controlnet_masking';

// Per-row scale (0 = residuals zeroed) of the official rule for batch [uncond F rows, cond F rows].
export function controlMask(framesPerHalf, stepIndex, gmEndTsidx) {
  return Array.from({ length: 2 * framesPerHalf }, (_, row) => {
    const uncond = row < framesPerHalf;
    const isPrompt = row % framesPerHalf === 0;
    if (stepIndex < gmEndTsidx) return uncond || isPrompt ? 0 : 1;
    return isPrompt ? 0 : 1;
  });
}

export async function run(c, ctx) {
  const p = c.parameters;
  const phases = ['early', 'late'];
  assertCaseTensors(c, {
    inputs: ['sample', 'encoder_hidden_states', 'controlnet_cond', 'timesteps'],
    outputs: phases.flatMap((ph) => [`${ph}_noise_pred`, `${ph}_mid_residual_unmasked`]),
  });
  assert.ok(p.guidance_scale > 1, `${c.name}: the masking rule is for a CFG batch (guidance_scale ${p.guidance_scale})`);
  await withControlNetInputs(ctx, async ({ unet: u, controlnet: cn, g, sample, context, cond, keep }) => {
    const schedule = Array.from(g.read('timesteps').data);
    assert.equal(schedule.length, p.num_inference_steps, 'timesteps: one per inference step');
    assert.equal(sample.shape[0], 2 * p.frames_per_half);
    for (const phase of phases) {
      const t = p[`${phase}_timestep`];
      const stepIndex = schedule.indexOf(t);
      assert.equal(stepIndex, p[`${phase}_cur_tsidx`], `${phase}: step index of t=${t} in ${schedule}`);
      const mask = controlMask(p.frames_per_half, stepIndex, p.gm_end_tsidx);
      const res = await cn.forward({ sample, timesteps: t, context, cond, scale: 1 });
      res.down.forEach(keep);
      keep(res.mid);
      await expectNchw(ctx.t, res.mid, g.read(`${phase}_mid_residual_unmasked`), c.tolerance, `${phase}_mid_residual_unmasked`);
      const out = keep(await u.forward({ sample, timesteps: t, context, control: { ...res, frameScale: mask } }));
      await expectNchw(ctx.t, out, g.read(`${phase}_noise_pred`), c.tolerance, `${phase}_noise_pred (mask ${mask.join('')})`);
    }
  });
}
