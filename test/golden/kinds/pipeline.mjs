// Golden kind `pipeline`: one full call of the reference method on the manifest's tiny model
// (inversion, AdaIN, guided denoising with the image-prompt attention, decoding), with the
// fixture's initial noise injected, every option taken from the case, compared at every stage:
// prompts (quality suffix), inversion chain, initial latents, per-step latents, final latents,
// decoded images and the 8-bit outputs. Case settings the pipeline cannot honour fail by name.
import assert from 'node:assert/strict';
import path from 'node:path';
import { IndetailPipeline, decoderKVLayers, floatToU8, openSafetensors, parseSchedulerConfig } from '../../../dist/index.js';
import { closeness } from '../../helpers/compare.mjs';
import { assertCaseTensors, modelDir } from '../../helpers/fixtures.mjs';
import { nchwToNhwc } from '../../helpers/layout.mjs';

export const kind = 'pipeline';

const TASKS = { imgvar: 'variation', crossprompt: 'cross', stguide: 'structure' };
const GUIDANCE_MODES = { cond: 'conflict-free', all: 'conflicting' };
// Outputs compared here (the text inputs of every row, SDXL's pooled embeddings and time ids
// included), and those the pipeline does not trace (raw UNet outputs, token ids: the tokenizer
// cases check those, and their effect is in every compared latent).
const COMPARED = [
  'inversion_prompt_embeds', 'prompt_embeds', 'z0', 'inversion_latents', 'inversion_timesteps', 'x_t', 'initial_latents', 'timesteps',
  'step_latents', 'final_latents', 'decoded_images', 'output_images_u8',
  'inversion_pooled_prompt_embeds', 'pooled_prompt_embeds', 'inversion_add_time_ids', 'add_time_ids',
];
const NOT_TRACED = ['input_ids', 'input_ids_2', 'inversion_input_ids', 'inversion_input_ids_2', 'inversion_noise_preds', 'step_noise_preds', 'step_latents_before_callback'];
const pipelines = new Map();

/** The largest |x| of a golden tensor (the scale of its error bound in reduced precision). */
const maxMagnitude = (a) => a.reduce((m, x) => Math.max(m, Math.abs(x)), 0);

// One pipeline per model (default: the manifest's diffusers folder), ControlNet, backend and
// precision (default: the pipeline's 'auto').
async function pipelineFor(ctx, controlnet, backend, model = { model: modelDir(ctx, 'diffusers') }, precision) {
  const key = JSON.stringify([model, controlnet ?? '', backend, precision ?? '']);
  if (!pipelines.has(key)) {
    pipelines.set(key, IndetailPipeline.load({ ...model, backend, ...(precision ? { precision } : {}), ...(controlnet ? { controlnet: path.join(ctx.root, controlnet) } : {}) }));
  }
  return pipelines.get(key);
}

function u8Image(t) {
  const [h, w] = t.shape;
  return { data: Uint8Array.from(t.readSync()), width: w, height: h };
}

/** Fails naming every setting of the case that differs from what the pipeline does. */
function checkSupported(c) {
  const p = c.parameters;
  const kw = p.ap_kwargs;
  const steps = p.num_inference_steps;
  const expect = [
    ['use_adain', p.use_adain, true],
    ['eta', p.eta ?? 0, 0],
    ['inv_offset', p.inv_offset ?? 0, 0],
    ['inversion_steps', p.inversion_steps, steps],
    ['inversion_negative_prompt', p.inversion_negative_prompt, ''],
    ['ap_block_dicts', p.ap_block_dicts, 'up'],
    ['attn_type', p.attn_type, 'attn1'],
    ['ap_kwargs.share_start_tsidx', kw.share_start_tsidx, 0],
    ['ap_kwargs.sain_start_tsidx', kw.sain_start_tsidx, 0],
    ['ap_kwargs.sain_end_tsidx', kw.sain_end_tsidx, steps],
    ['ap_kwargs.inference_step', kw.inference_step, steps],
    ['ap_kwargs.guidance_scale', kw.guidance_scale, p.guidance_scale],
    ['guess_mode', p.guess_mode ?? false, false],
    ...(p.unet_guidance_scale !== undefined ? [['unet_guidance_scale', p.unet_guidance_scale, p.guidance_scale]] : []),
  ];
  const bad = expect.filter(([, got, want]) => got !== want).map(([name, got, want]) => `${name} = ${JSON.stringify(got)} (the pipeline does ${JSON.stringify(want)})`);
  assert.equal(bad.length, 0, `${c.name}: settings the pipeline does not implement: ${bad.join('; ')}`);
  assert.ok(TASKS[p.task], `${c.name}: unknown task ${p.task}`);
  assert.ok(GUIDANCE_MODES[kw.sain], `${c.name}: unknown sain ${kw.sain}`);
  assertCaseTensors(c, { inputs: ['input_image_u8', 'initial_noise', 'control_image_u8'], outputs: [...COMPARED, ...NOT_TRACED] });
}

/** The pipeline call of case `c` (its golden file `g` open) with the fixture's noise, recording into `trace`. */
export function pipelineCall(c, g, trace) {
  const p = c.parameters;
  const kw = p.ap_kwargs;
  const noise = g.tensor('initial_noise');
  const [n, ch, h, w] = noise.shape;
  const task = TASKS[p.task];
  const options = {
    image: u8Image(g.tensor('input_image_u8')),
    ...(task === 'structure' ? { control: u8Image(g.tensor('control_image_u8')), controlGuidanceEndStep: p.unet_gm_end_tsidx, controlScale: p.controlnet_conditioning_scale } : {}),
    prompt: p.inf_text,
    inversionPrompt: p.inv_text,
    qualitySuffix: p.use_prefix ? p.prefix : false,
    negativePrompt: p.negative_prompt,
    samples: p.num_samples,
    steps: p.num_inference_steps,
    guidanceScale: p.guidance_scale,
    stratifiedSteps: kw.end_stratified_attention,
    lambdaImage: kw.lambda_img ?? 1,
    lambdaSelf: kw.lambda_self ?? 1,
    guidanceMode: GUIDANCE_MODES[kw.sain],
    size: p.image_size,
    initialNoise: nchwToNhwc(noise.readSync(), [n, ch, h, w]),
    includeReconstruction: true,
    trace,
  };
  return { task, options };
}

/** The model-level facts of the case: scheduler configuration, modified layers, prompts. */
function checkAgainstPipeline(c, pipe, trace, latentSize) {
  const p = c.parameters;
  assert.deepEqual(pipe.parts.scheduler.config, parseSchedulerConfig(p.scheduler, `${c.name} parameters.scheduler`), 'the pipeline runs the case\'s scheduler configuration');
  const layers = decoderKVLayers(pipe.parts.unet.config, latentSize[0], latentSize[1]).map((l) => `${l.name}.processor`);
  assert.deepEqual(layers, p.processors_installed_on, 'the image-prompt attention runs on exactly the case\'s layers');
  assert.equal(trace.prompts.inversion, p.inv_prompt, 'inversion prompt (with the quality suffix)');
  assert.deepEqual(trace.prompts.cond, p.prompts_cond_rows, 'conditional prompts per frame');
  assert.deepEqual(trace.prompts.uncond, p.prompts_uncond_rows, 'unconditional prompts per frame');
  assert.ok(trace.prompts.cond.slice(1).every((x) => x === p.prompt), 'prompt (with the quality suffix)');
}

/**
 * Runs the case on `backend` (in `precision`, default the pipeline's 'auto') and returns the
 * comparisons (name, max abs error, largest golden magnitude, bound, violations). `model`: the
 * load options of another form of the same model (e.g. its single file).
 */
export async function runPipelineCase(c, ctx, { backend = 'cpu', precision, bounds, model } = {}) {
  checkSupported(c);
  const g = await openSafetensors(ctx.file);
  const [n, ch, h, w] = g.tensor('initial_noise').shape;
  const pipe = await pipelineFor(ctx, c.parameters.controlnet, backend, model, precision);
  const trace = {};
  const { task, options } = pipelineCall(c, g, trace);
  await pipe[task](options);
  checkAgainstPipeline(c, pipe, trace, [h, w]);
  const steps = pipe.parts.scheduler.timesteps(c.parameters.num_inference_steps);
  assert.deepEqual([...steps], [...g.tensor('timesteps').readSync()], 'denoising timesteps');
  assert.deepEqual([...steps].reverse(), [...g.tensor('inversion_timesteps').readSync()], 'inversion timesteps');
  const tol = c.tolerance;
  const latent = bounds?.latents ?? { atol: tol.latents_abs, rtol: 1e-4 };
  const frame = h * w * ch;
  const F = n + 1;
  const rows = [];
  const compare = (name, got, wantNchw, shape, bound) => {
    const want = nchwToNhwc(wantNchw, shape);
    const s = closeness(got, want, bound, name);
    rows.push({ name, maxAbs: s.maxAbs, scale: maxMagnitude(want), violations: s.violations, bound });
  };
  rows.push(...compareTextInputs(c, g, trace, latent));
  compare('z0', trace.z0, g.tensor('z0').readSync(), [1, ch, h, w], latent);
  const chain = g.tensor('inversion_latents').readSync();
  assert.equal(trace.inversionLatents.length, c.parameters.num_inference_steps + 1, 'inversion chain length');
  trace.inversionLatents.forEach((z, k) => compare(`inversion_latents[${k}]`, z, chain.subarray(k * frame, (k + 1) * frame), [1, ch, h, w], latent));
  compare('x_t', trace.inversionLatents[0], g.tensor('x_t').readSync(), [1, ch, h, w], latent);
  compare('initial_latents', trace.initialLatents, g.tensor('initial_latents').readSync(), [F, ch, h, w], latent);
  const stepsWant = g.tensor('step_latents').readSync();
  assert.equal(trace.stepLatents.length, c.parameters.num_inference_steps, 'one latent per step');
  trace.stepLatents.forEach((z, i) => compare(`step_latents[${i}]`, z, stepsWant.subarray(i * F * frame, (i + 1) * F * frame), [F, ch, h, w], latent));
  compare('final_latents', trace.stepLatents.at(-1), g.tensor('final_latents').readSync(), [F, ch, h, w], latent);
  const [, , H, W] = g.tensor('decoded_images').shape;
  compare('decoded_images', trace.decoded, g.tensor('decoded_images').readSync(), [F, 3, H, W], bounds?.decoded ?? { atol: tol.decoded_images_abs, rtol: 0 });
  const u8 = floatToU8(trace.decoded);
  const u8Bound = bounds?.u8 ?? tol.output_u8_abs;
  const q = closeness(u8, g.tensor('output_images_u8').readSync(), { atol: u8Bound, rtol: 0 }, 'output_images_u8');
  rows.push({ name: 'output_images_u8', maxAbs: q.maxAbs, scale: 255, violations: q.violations, bound: { atol: u8Bound } });
  return { rows, trace };
}

/**
 * The text inputs of the calls: the reference's rows [negative: P, G.. ; positive: P, G..] from the
 * traced prompt table (what each row's prompt encodes to), SDXL's pooled embeddings and time ids.
 */
function compareTextInputs(c, g, trace, bound) {
  const out = [];
  const push = (name, got, want, b = bound) => {
    const s = closeness(got, want, b, name);
    out.push({ name, maxAbs: s.maxAbs, scale: maxMagnitude(want), violations: s.violations, bound: b });
  };
  const table = trace.promptTable;
  const batch = [...trace.prompts.uncond, ...trace.prompts.cond];
  // Under conflict-free guidance the image prompt's negative row (0) is left out of the batch (the
  // reference computes it and throws it away), so its prompt may not be encoded at all.
  const rows = batch.map((p, r) => r).filter((r) => r !== 0 || c.parameters.ap_kwargs.sain !== 'cond' || table.prompts.includes(batch[0]));
  const pick = (data, prompts, which) => {
    const width = data.length / table.prompts.length;
    const out = new Float32Array(which.length * width);
    which.forEach((r, k) => {
      const i = table.prompts.indexOf(prompts[r]);
      assert.ok(i >= 0, `${c.name}: prompt ${JSON.stringify(prompts[r])} of row ${r} was not encoded`);
      out.set(data.subarray(i * width, (i + 1) * width), k * width);
    });
    return out;
  };
  const golden = (name) => {
    const t = g.tensor(name);
    const data = t.readSync();
    const width = data.length / t.shape[0];
    const out = new Float32Array(rows.length * width);
    rows.forEach((r, k) => out.set(data.subarray(r * width, (r + 1) * width), k * width));
    return out;
  };
  push('inversion_prompt_embeds', trace.inversionContext, g.tensor('inversion_prompt_embeds').readSync());
  push('prompt_embeds', pick(table.context, batch, rows), golden('prompt_embeds'));
  if ('pooled_prompt_embeds' in c.outputs || 'inversion_pooled_prompt_embeds' in c.outputs) {
    assert.ok(table.pooled, `${c.name}: the case has pooled embeddings (SDXL) but the pipeline made none`);
    push('pooled_prompt_embeds', pick(table.pooled, batch, rows), golden('pooled_prompt_embeds'));
    push('inversion_pooled_prompt_embeds', pick(table.pooled, [trace.prompts.inversion], [0]), g.tensor('inversion_pooled_prompt_embeds').readSync());
  }
  if ('add_time_ids' in c.outputs || 'inversion_add_time_ids' in c.outputs) {
    assert.ok(trace.timeIds, `${c.name}: the case has time ids (SDXL) but the pipeline passed none`);
    const exact = { atol: 0, rtol: 0 };
    push('add_time_ids', Float32Array.from(batch.flatMap(() => trace.timeIds)), g.tensor('add_time_ids').readSync(), exact);
    push('inversion_add_time_ids', Float32Array.from(trace.timeIds), g.tensor('inversion_add_time_ids').readSync(), exact);
  }
  return out;
}

/** The diagnostics of a run: every row's max error, and the worst over the latent rows. */
export function reportRows(t, rows) {
  for (const r of rows) t.diagnostic(`${r.name}: max abs ${r.maxAbs.toExponential(2)}`);
  const bad = rows.filter((r) => r.violations > 0);
  assert.equal(bad.length, 0, `outside tolerance: ${bad.map((r) => `${r.name} (max abs ${r.maxAbs.toExponential(2)}, ${r.violations} values)`).join('; ')}`);
}

export async function run(c, ctx) {
  const { rows } = await runPipelineCase(c, ctx);
  reportRows(ctx.t, rows);
}
