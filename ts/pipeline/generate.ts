// One call of the method (the reference's InDetailIP.generate): VAE-encode the image prompt,
// DDIM-invert it with the inversion prompt, AdaIN the initial noise to z_T, then denoise with
// classifier-free guidance while the decoder self-attention of every sample also attends to the
// image prompt (Stratified Attention for the first steps, KV concatenation after), the image
// prompt's latent following the inversion chain. Everything large stays on the engine; the host
// sees only the per-step scalars, the small initial noise and the final images.
//
// With the image-prompt cache (kv-cache.ts) a call whose key was seen before reuses the inversion
// chain and, at every step the entry holds, leaves the image prompt's rows out of the batch and
// reads their decoder self-attention K/V from the cache; a call that finds no entry records one.
// The outputs are the same bits either way (test/kvcache-pipeline.test.mjs).
import { createHash } from 'node:crypto';
import { IndetailError } from '../errors.js';
import { cropAndResize, loadImage, u8ToFloatSigned, u8ToFloatUnit, type RgbImage } from '../image/index.js';
import { randn } from '../random/index.js';
import type { Tensor } from '../tensor.js';
import { adain } from './adain.js';
import { withSuffix } from './defaults.js';
import { decoderKVBytesPerStep } from '../models/unet.js';
import type { CacheEntry, ImagePromptCache, KVCacheUse } from './kv-cache.js';
import { batchLayout, cachedBatchLayout, controlRowScales, imagePromptCacheRows, stepAttentionMode, type BatchLayout } from './layout.js';
import type { ImageInput, ResolvedOptions } from './options.js';
import type { PipelineParts } from './parts.js';
import { gatherFrames } from './tensors.js';
import type { GenerationTrace } from './trace.js';

export interface GenerationOutput {
  /** Decoded frames in [-1, 1], NHWC [count, H, W, 3] on the host. */
  decoded: Float32Array;
  /** Which frames `decoded` holds (0 = the image prompt's reconstruction). */
  frames: number[];
  width: number;
  height: number;
  timings: { encode: number; inversion: number; denoise: number; decode: number; total: number };
  kvCache: KVCacheUse;
}

async function prepareImage(input: ImageInput, width: number, height: number): Promise<RgbImage> {
  if (typeof input === 'string' || input instanceof Uint8Array) return loadImage(input, { width, height });
  return input.width === width && input.height === height ? input : cropAndResize(input, width, height);
}

class Clock {
  private readonly start = performance.now();
  private mark = this.start;
  lap(): number {
    const now = performance.now();
    const s = (now - this.mark) / 1000;
    this.mark = now;
    return s;
  }
  elapsed(): number {
    return (performance.now() - this.start) / 1000;
  }
}

/** The call's cancellation error; `stop` is the native one when a model stopped between its blocks ("cancelled in UNet up block 1"). */
function cancelled(signal: AbortSignal, stop?: unknown): IndetailError {
  const reason = signal.reason instanceof Error ? `: ${signal.reason.message}` : '';
  const where = stop instanceof Error && stop.message.startsWith('cancelled in ') ? stop.message.slice('cancelled'.length) : '';
  return new IndetailError('ERR_INDETAIL_CANCELLED', `generation cancelled${where}${reason}`, { cause: stop ?? signal.reason });
}

function checkAbort(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw cancelled(signal);
}

/**
 * Latents (or images) with a NaN or an infinite value stop the call, naming the stage and the
 * frame: the result would be a black or garbage image.
 */
async function checkFinite(t: Tensor, stage: string): Promise<void> {
  const bad = await t.firstNonFinite();
  if (bad < 0) return;
  const frame = Math.floor(bad / Math.max(1, t.shape.slice(1).reduce((a, b) => a * b, 1)));
  throw new IndetailError(
    'ERR_INDETAIL_NOT_FINITE',
    `${stage} produced NaN or infinite values (frame ${frame}). The weights, or a parameter such as a very large guidance scale, overflow; ` +
      'on CUDA, precision bf16 has the range of float32',
  );
}

/** Text embeddings for the distinct prompts (the family's conditioning), then one row per batch row. */
async function encodeTexts(parts: PipelineParts, prompts: string[]): Promise<{ table: Tensor; index: Map<string, number> }> {
  const distinct = [...new Set(prompts)];
  const enc = parts.tokenizer.encodeBatch(distinct);
  const conditioning = parts.family.conditioning;
  if (conditioning !== 'last-hidden-state') throw new IndetailError('ERR_INDETAIL_INTERNAL', `conditioning ${String(conditioning)} is not implemented`);
  const { lastHiddenState } = await parts.textEncoder.encode(enc.ids, distinct.length);
  return { table: lastHiddenState, index: new Map(distinct.map((p, i) => [p, i])) };
}

/** Every frame's prompt in each half: frame 0 (the image prompt) has '' and its inversion prompt, the samples the negative prompt and the prompt. */
function framePrompts(o: ResolvedOptions): { uncond: string[]; cond: string[] } {
  const frames = Array.from({ length: o.samples + 1 }, (_, f) => f);
  return {
    uncond: frames.map((f) => (f === 0 ? '' : o.negativePrompt)),
    cond: frames.map((f) => withSuffix(f === 0 ? o.inversionPrompt : o.prompt, o.qualitySuffix)),
  };
}

function rowPrompts(layout: BatchLayout, o: ResolvedOptions): string[] {
  const p = framePrompts(o);
  return layout.rows.map((r) => p[r.branch][r.frame]!);
}

/**
 * The cache key: everything the image prompt's rows depend on besides the pipeline's model,
 * engine and scheduler (the cache belongs to one pipeline): the image as the VAE sees it, the
 * inversion prompt, the steps, the size, which P rows are cached, and whether a ControlNet runs
 * (it adds P's residuals scaled by 0).
 */
function cacheKey(image: RgbImage, o: ResolvedOptions, controlnet: boolean): string {
  const h = createHash('sha256');
  const fields = { inversionPrompt: withSuffix(o.inversionPrompt, o.qualitySuffix), steps: o.steps, width: image.width, height: image.height, rows: imagePromptCacheRows(o.guidanceMode), controlnet };
  h.update(JSON.stringify(fields));
  h.update(image.data);
  return h.digest('hex');
}

export async function generate(parts: PipelineParts, o: ResolvedOptions, trace?: GenerationTrace, cache?: ImagePromptCache): Promise<GenerationOutput> {
  const { engine, unet, vae, scheduler } = parts;
  // v-prediction: the model output is converted to (x0, ε) at the "from" level, in the inversion
  // steps as in the denoising steps (the reference's InversionV, fixtures-sd21v README).
  const vPrediction = scheduler.config.predictionType === 'v_prediction';
  const clock = new Clock();
  const timings = { encode: 0, inversion: 0, denoise: 0, decode: 0, total: 0 };
  const progress = (phase: 'encode' | 'inversion' | 'denoise' | 'decode', step: number, total: number) => {
    o.onProgress?.({ phase, step, total, elapsed: clock.elapsed() });
  };
  const owned: Tensor[] = [];
  const keep = <T extends Tensor>(t: T): T => {
    owned.push(t);
    return t;
  };
  const kvCache: KVCacheUse = { status: 'off', reusedSteps: 0, recordedSteps: 0, entryBytes: 0 };
  let entry: CacheEntry | undefined;
  const chain: Tensor[] = []; // owned by the call unless a cache entry takes it
  if (o.task === 'structure' && !parts.controlnet) {
    throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', 'the structure-guided task needs a ControlNet (load the pipeline with controlnet)');
  }
  const signal = o.signal ? { signal: o.signal } : {};
  try {
    checkAbort(o.signal);
    const { width, height } = o;
    const h = height / 8;
    const w = width / 8;
    const c = unet.config.in_channels;

    // 1. Text and image prompt.
    const layout = batchLayout(o.samples, o.guidanceMode);
    const prompts = rowPrompts(layout, o);
    const inversionPrompt = withSuffix(o.inversionPrompt, o.qualitySuffix);
    if (trace) trace.prompts = { inversion: inversionPrompt, ...framePrompts(o) };
    const texts = await encodeTexts(parts, [inversionPrompt, ...prompts]);
    keep(texts.table);
    const context = keep(await gatherFrames(engine, texts.table, prompts.map((p) => texts.index.get(p)!)));
    const inversionContext = texts.table.slice(texts.index.get(inversionPrompt)!, 1);
    if (trace) trace.inversionContext = await inversionContext.readFloat32();

    const image = await prepareImage(o.image, width, height);
    const key = cache ? cacheKey(image, o, parts.controlnet !== undefined && o.task === 'structure') : '';
    entry = cache?.acquire(key);
    if (cache) kvCache.status = entry ? 'hit' : 'miss';
    if (!entry) {
      const pixels = keep(engine.tensor(u8ToFloatSigned(image.data), [1, height, width, 3]));
      chain.push(await vae.encodeScaled(pixels, { ...signal }));
      await checkFinite(chain[0]!, 'VAE encoding of the image prompt');
    }
    const z0 = entry ? entry.chain[o.steps]! : chain[0]!;
    if (trace) trace.z0 = await z0.readFloat32();
    let cond: Tensor | undefined;
    if (o.control !== undefined) {
      const controlImage = await prepareImage(o.control, width, height);
      cond = keep(engine.tensor(u8ToFloatUnit(controlImage.data), [1, height, width, 3]));
    }
    timings.encode = clock.lap();
    progress('encode', 1, 1);

    // 2. DDIM inversion of the image prompt (no guidance, batch 1, plain attention), or the
    //    cached chain.
    if (entry) {
      for (let k = 1; k <= o.steps; k++) progress('inversion', k, o.steps);
    } else {
      let z = z0;
      for (const step of scheduler.inversionSteps(o.steps)) {
        checkAbort(o.signal);
        const eps = await unet.forward({ sample: z, timesteps: [step.timestep], context: inversionContext, sync: false, ...signal });
        const next = engine.empty([1, h, w, c]);
        chain.push(next);
        await engine.op('guidance_step', { eps, x: z, out: next, alphaFrom: step.alphaFrom, alphaTo: step.alphaTo, vPrediction, uncondRow: [-1], condRow: [0] });
        eps.dispose();
        await checkFinite(next, `inversion step ${step.index + 1} of ${o.steps}`);
        z = next;
        progress('inversion', step.index + 1, o.steps);
      }
      chain.reverse(); // zts[0] = most noisy, zts[steps] = z0
      if (cache) {
        const kv = unet.createKVCache(o.steps, imagePromptCacheRows(o.guidanceMode).length);
        entry = cache.add(key, [...chain], kv);
        if (entry) chain.length = 0; // the entry owns the chain now
        else kv.dispose();
      }
    }
    const zts = entry ? entry.chain : chain;
    if (trace) trace.inversionLatents = await Promise.all(zts.map((t) => t.readFloat32()));
    timings.inversion = clock.lap();

    // 3. Initial latents: frame 0 = z_T, samples = AdaIN(noise, z_T).
    const zT = await zts[0]!.readFloat32();
    const noise = o.initialNoise ?? randn(o.seed, o.samples * h * w * c);
    const adained = adain(noise, zT, { n: o.samples, h, w, c });
    const init = new Float32Array((o.samples + 1) * h * w * c);
    init.set(zT, 0);
    init.set(adained, zT.length);
    if (trace) trace.initialLatents = init;
    let latents = keep(engine.tensor(init, [o.samples + 1, h, w, c]));
    if (trace) trace.stepLatents = [];

    // With a cache entry: the batch without P's rows for the steps it holds (their contexts
    // gathered once), recording the other steps while the budget has room.
    const cached = entry ? cachedBatchLayout(o.samples, o.guidanceMode) : undefined;
    const cachedContext = cached ? keep(await gatherFrames(engine, texts.table, rowPrompts(cached, o).map((p) => texts.index.get(p)!))) : undefined;
    const bytesPerValue = engine.computeDtype === 'f32' ? 4 : 2;
    const stepBytes = entry ? decoderKVBytesPerStep(unet.config, h, w, entry.kv.rows, bytesPerValue) : 0;

    // 4. Denoising with the image prompt in the decoder self-attention.
    for (const step of scheduler.denoisingSteps(o.steps)) {
      checkAbort(o.signal);
      const i = step.index;
      const reuse = entry !== undefined && entry.kv.has(i);
      const record = entry !== undefined && !reuse && cache!.reserve(entry, stepBytes);
      const L = reuse ? cached! : layout;
      const rowFrames = L.rows.map((r) => r.frame);
      const rowContext = reuse ? cachedContext! : context;
      const sample = await gatherFrames(engine, latents, rowFrames);
      const timesteps = rowFrames.map(() => step.timestep);
      const mode = stepAttentionMode(o.attention, i, o.stratifiedSteps);
      let control;
      if (parts.controlnet && cond) {
        const res = await parts.controlnet.forward({ sample, timesteps, context: rowContext, cond, scale: o.controlScale, ...signal });
        control = { ...res, frameScale: controlRowScales(L, i, o.controlGuidanceEndStep) };
      }
      const eps = await unet.forward({
        sample,
        timesteps,
        context: rowContext,
        ...(control ? { control } : {}),
        attention: { mode, ref: L.ref, lambdaRef: o.lambdaImage, lambdaSelf: o.lambdaSelf },
        ...(reuse ? { refKV: { cache: entry!.kv, step: i } } : {}),
        ...(record ? { recordKV: { cache: entry!.kv, step: i, rows: L.imagePromptRows } } : {}),
        // Queued only: the step's one device synchronisation is the guidance step's (below), so
        // progress and cancellation follow the device while no data comes back to the host.
        sync: false,
        ...signal,
      });
      if (reuse) kvCache.reusedSteps++;
      if (record) kvCache.recordedSteps++;
      sample.dispose();
      if (control) {
        for (const t of control.down) t.dispose();
        control.mid.dispose();
      }
      const next = keep(engine.empty(latents.shape));
      await engine.op('guidance_step', {
        eps,
        x: latents,
        reset: zts[i + 1]!,
        out: next,
        guidanceScale: o.guidanceScale,
        alphaFrom: step.alphaFrom,
        alphaTo: step.alphaTo,
        vPrediction,
        uncondRow: L.uncondRow,
        // Without P's rows frame 0 has none; the op still wants one for it, though the reset overwrites it.
        condRow: L.condRow.map((r, f) => (f === 0 && r < 0 && L.uncondRow[0]! < 0 ? 0 : r)),
        resetFrame: 0,
      });
      eps.dispose();
      latents.dispose();
      latents = next;
      await checkFinite(latents, `denoising step ${i + 1} of ${o.steps}`);
      if (trace) trace.stepLatents!.push(await latents.readFloat32());
      progress('denoise', i + 1, o.steps);
    }
    timings.denoise = clock.lap();

    // 5. Decode the samples (and the reconstruction when asked).
    checkAbort(o.signal);
    const first = o.includeReconstruction ? 0 : 1;
    const frames = Array.from({ length: o.samples + 1 - first }, (_, k) => k + first);
    const images = keep(await vae.decodeScaled(latents.slice(first, frames.length), { ...signal }));
    await checkFinite(images, 'VAE decoding');
    const decoded = await images.readFloat32();
    if (trace) trace.decoded = decoded;
    timings.decode = clock.lap();
    progress('decode', 1, 1);
    timings.total = clock.elapsed();
    if (entry) kvCache.entryBytes = entry.bytes;
    if (trace) trace.kvCache = { ...kvCache };
    return { decoded, frames, width, height, timings, kvCache };
  } catch (err) {
    // A stop inside a native call (between blocks) reads like one between steps, plus where it happened.
    throw o.signal?.aborted && (err as IndetailError).code === 'ERR_INDETAIL_CANCELLED' ? cancelled(o.signal, err) : err;
  } finally {
    for (const t of owned) t.dispose();
    for (const t of chain) t.dispose();
    if (entry) {
      cache!.countSteps(kvCache.reusedSteps, kvCache.recordedSteps);
      cache!.release(entry);
    }
  }
}
