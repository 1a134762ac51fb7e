// The `attention` golden case, computed with the ops of any backend: the case's UNet layer
// (parameters.layer, e.g. up_blocks.2.attentions.1.transformer_blocks.0.attn1: to_q/to_k/to_v
// without bias, to_out.0 with bias, read from the manifest's diffusers UNet) around the attention
// op, whose mode / ref / lambdas reproduce each subcase of the official AttnDevilProcessor2_0 as
// test/fixtures/README.md describes. Backend-agnostic: the CUDA backend's tests reuse it and
// compare with their own tolerance.
import path from 'node:path';
import { openSafetensors } from '../../dist/index.js';
import { findCase, loadManifest, modelDir } from './fixtures.mjs';

// Rows of hidden_states a subcase feeds: "all rows", "rows 3..5 (cond half)", "row 3 only".
function inputRows(spec, total) {
  if (spec === 'all rows') return Array.from({ length: total }, (_, i) => i);
  let m = /^rows (\d+)\.\.(\d+)/.exec(spec);
  if (m) return Array.from({ length: +m[2] - +m[1] + 1 }, (_, i) => +m[1] + i);
  m = /^row (\d+)/.exec(spec);
  if (m) return [+m[1]];
  throw new Error(`attention golden: unknown input_rows '${spec}'`);
}

// The attention op's policy for one call of the official processor (see the fixtures README):
// batch 1 or sain 'none' -> plain attention; otherwise, by the step counter, KV replacement
// (step < share_start_tsidx), stratified (step < end_stratified_attention) or KV concatenation,
// with P as the reference: under CFG ('cond') cond rows use the cond P row and uncond rows their
// own keys (ref -1); ('all') each half uses its own P row; without CFG every row uses row 0.
export function attentionPolicy(sub, frames, framesPerHalf) {
  const kw = sub.processor_kwargs;
  const step = sub.cur_tsidx_before;
  // The processor counts its calls with a batch of 2 or more (wrapping after inference_step).
  const after = frames >= 2 ? (step + 1) % kw.inference_step : step;
  if (after !== sub.cur_tsidx_after) throw new Error(`attention golden: ${sub.output} moves the step counter ${step} -> ${sub.cur_tsidx_after}, not ${after}`);
  const active = kw.sain !== 'none' && frames >= 2 && step >= kw.sain_start_tsidx && step < kw.sain_end_tsidx;
  const policy = { mode: 'none', ref: [], lambdaRef: kw.lambda_img ?? 1, lambdaSelf: kw.lambda_self ?? 1 };
  if (active) {
    const replace = step < kw.share_start_tsidx;
    const stratified = step < kw.end_stratified_attention;
    policy.mode = replace ? 'replace' : stratified ? 'stratified' : 'concat';
    if (kw.guidance_scale > 1) {
      const half = framesPerHalf;
      if (frames !== 2 * half) throw new Error(`attention golden: ${sub.output} feeds ${frames} rows under CFG, not 2 × ${half} (frames_per_half)`);
      policy.ref = Array.from({ length: frames }, (_, i) => (i >= half ? half : kw.sain === 'all' ? 0 : -1));
    } else {
      policy.ref = Array.from({ length: frames }, () => 0);
    }
  }
  // The manifest names the processor's code path: make sure we read it the same way.
  const expectPath = {
    none: /^org_call/,
    concat: /^mod_selfattention$/,
    replace: /kv_replacement/,
    stratified: /^stratified_attention$/,
  }[policy.mode];
  if (!expectPath.test(sub.path)) throw new Error(`attention golden: ${sub.output} takes path '${sub.path}', not mode ${policy.mode}`);
  return policy;
}

/** Every subcase of the fixture root's `attention` case (or of `spec`), computed on `engine`. */
export async function attentionGoldenSubcases(engine, root, spec = findCase('attention', loadManifest(root))) {
  const manifest = loadManifest(root);
  const p = spec.parameters;
  const golden = await openSafetensors(path.join(root, spec.file));
  const unet = await openSafetensors(modelDir({ root, manifest }, 'diffusers', 'unet', 'diffusion_pytorch_model.safetensors'));
  const w = (name, use) => {
    const host = unet.tensor(`${p.layer}.${name}`);
    const t = engine.prepareWeight(host, use);
    host.dispose();
    return t;
  };
  const wq = w('to_q.weight', 'linear');
  const wk = w('to_k.weight', 'linear');
  const wv = w('to_v.weight', 'linear');
  const wo = w('to_out.0.weight', 'linear');
  const bo = w('to_out.0.bias', 'vector');
  const [total, len, channels] = spec.inputs.hidden_states.shape;
  if (len !== p.sequence_length || channels !== p.channels) throw new Error(`attention golden: hidden_states [${spec.inputs.hidden_states.shape}] vs sequence_length ${p.sequence_length}, channels ${p.channels}`);
  const hidden = golden.tensor('hidden_states').readSync();

  const results = [];
  for (const sub of p.subcases) {
    const rows = inputRows(sub.input_rows, total);
    const n = rows.length;
    const shape = [n, len, channels];
    const data = new Float32Array(n * len * channels);
    rows.forEach((r, i) => data.set(hidden.subarray(r * len * channels, (r + 1) * len * channels), i * len * channels));
    const x = engine.tensor(data, shape);
    const [q, k, v, attn, out] = [0, 1, 2, 3, 4].map(() => engine.empty(shape));
    await engine.op('linear', { x, w: wq, out: q });
    await engine.op('linear', { x, w: wk, out: k });
    await engine.op('linear', { x, w: wv, out: v });
    await engine.op('attention', { q, k, v, out: attn, heads: p.heads, ...attentionPolicy(sub, n, p.frames_per_half) });
    await engine.op('linear', { x: attn, w: wo, bias: bo, out });
    const got = await out.readFloat32();
    const want = golden.tensor(sub.output).readSync();
    results.push({ name: sub.output, got, want, shape });
    for (const t of [x, q, k, v, attn, out]) t.dispose();
  }
  for (const t of [wq, wk, wv, wo, bo]) t.dispose();
  golden.close();
  unet.close();
  return results;
}
