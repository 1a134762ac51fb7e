// Golden kind `pipeline`: one full call of the reference method on the tiny model (inversion,
// AdaIN, guided denoising with the image-prompt attention, decoding), with the fixture's initial
// noise injected, compared at every stage: inversion chain, initial latents, per-step latents,
// final latents, decoded images and the 8-bit outputs.
import assert from 'node:assert/strict';
import path from 'node:path';
import { IndetailPipeline, floatToU8, openSafetensors } from '../../../dist/index.js';
import { closeness } from '../../helpers/compare.mjs';
import { nchwToNhwc } from '../../helpers/layout.mjs';

export const kind = 'pipeline';

const TASKS = { imgvar: 'variation', crossprompt: 'cross', stguide: 'structure' };
const pipelines = new Map();

async function pipelineFor(ctx, controlnet, backend, precision) {
  const key = `${controlnet ?? ''}|${backend}|${precision ?? ''}`;
  if (!pipelines.has(key)) {
    const model = path.join(ctx.root, ctx.manifest.model_dirs.diffusers);
    pipelines.set(key, await IndetailPipeline.load({ model, backend, ...(precision ? { precision } : {}), ...(controlnet ? { controlnet: path.join(ctx.root, controlnet) } : {}) }));
  }
  return pipelines.get(key);
}

function u8Image(t) {
  const [h, w] = t.shape;
  return { data: Uint8Array.from(t.readSync()), width: w, height: h };
}

/** The pipeline call of case `c` (its golden file `g` open) with the fixture's noise, recording into `trace`. */
export function pipelineCall(c, g, trace) {
  const p = c.parameters;
  const noise = g.tensor('initial_noise');
  const [n, ch, h, w] = noise.shape;
  const task = TASKS[p.task];
  assert.ok(task, `unknown task ${p.task}`);
  const options = {
    image: u8Image(g.tensor('input_image_u8')),
    ...(task === 'structure' ? { control: u8Image(g.tensor('control_image_u8')), controlGuidanceEndStep: p.unet_gm_end_tsidx, controlScale: p.controlnet_conditioning_scale } : {}),
    prompt: p.inf_text,
    inversionPrompt: p.inv_text,
    negativePrompt: p.negative_prompt,
    samples: p.num_samples,
    steps: p.num_inference_steps,
    guidanceScale: p.guidance_scale,
    stratifiedSteps: p.ap_kwargs.end_stratified_attention,
    lambdaImage: p.ap_kwargs.lambda_img,
    lambdaSelf: 1,
    guidanceMode: p.ap_kwargs.sain === 'cond' ? 'conflict-free' : 'conflicting',
    size: p.image_size,
    initialNoise: nchwToNhwc(noise.readSync(), [n, ch, h, w]),
    includeReconstruction: true,
    trace,
  };
  return { task, options };
}

/**
 * Runs the case on `backend` (in `precision`, default the pipeline's 'auto') and returns the
 * comparisons (name, max abs error, largest golden magnitude, bound, violations).
 */
export async function runPipelineCase(c, ctx, { backend = 'cpu', precision, bounds } = {}) {
  const g = await openSafetensors(ctx.file);
  const [n, ch, h, w] = g.tensor('initial_noise').shape;
  const pipe = await pipelineFor(ctx, c.parameters.controlnet, backend, precision);
  const trace = {};
  const { task, options } = pipelineCall(c, g, trace);
  await pipe[task](options);
  const tol = c.tolerance;
  const latent = bounds?.latents ?? { atol: tol.latents_abs, rtol: 1e-4 };
  const frame = h * w * ch;
  const F = n + 1;
  const rows = [];
  const compare = (name, got, wantNchw, shape, bound) => {
    const want = nchwToNhwc(wantNchw, shape);
    const s = closeness(got, want, bound);
    rows.push({ name, maxAbs: s.maxAbs, scale: want.reduce((m, x) => Math.max(m, Math.abs(x)), 0), violations: s.violations, bound });
  };
  const chain = g.tensor('inversion_latents').readSync();
  trace.inversionLatents.forEach((z, k) => compare(`inversion_latents[${k}]`, z, chain.subarray(k * frame, (k + 1) * frame), [1, ch, h, w], latent));
  compare('initial_latents', trace.initialLatents, g.tensor('initial_latents').readSync(), [F, ch, h, w], latent);
  const steps = g.tensor('step_latents').readSync();
  trace.stepLatents.forEach((z, i) => compare(`step_latents[${i}]`, z, steps.subarray(i * F * frame, (i + 1) * F * frame), [F, ch, h, w], latent));
  compare('final_latents', trace.stepLatents.at(-1), g.tensor('final_latents').readSync(), [F, ch, h, w], latent);
  const [, , H, W] = g.tensor('decoded_images').shape;
  compare('decoded_images', trace.decoded, g.tensor('decoded_images').readSync(), [F, 3, H, W], bounds?.decoded ?? { atol: tol.decoded_images_abs, rtol: 0 });
  const u8 = floatToU8(trace.decoded);
  const u8Bound = bounds?.u8 ?? tol.output_u8_abs;
  const s = closeness(u8, g.tensor('output_images_u8').readSync(), { atol: u8Bound, rtol: 0 });
  rows.push({ name: 'output_images_u8', maxAbs: s.maxAbs, scale: 255, violations: s.violations, bound: { atol: u8Bound } });
  return { rows, trace };
}

export async function run(c, ctx) {
  const { rows } = await runPipelineCase(c, ctx);
  for (const r of rows) ctx.t.diagnostic(`${r.name}: max abs ${r.maxAbs.toExponential(2)}`);
  const bad = rows.filter((r) => r.violations > 0);
  assert.equal(bad.length, 0, `outside tolerance: ${bad.map((r) => `${r.name} (max abs ${r.maxAbs.toExponential(2)}, ${r.violations} values)`).join('; ')}`);
}
