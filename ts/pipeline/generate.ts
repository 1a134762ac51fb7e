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
import { decoderKVBytesPerStep, type UNetTextInputs } from '../models/unet.js';
import type { CacheEntry, ImagePromptCache, KVCacheUse } from './kv-cache.js';
import { batchLayout, cachedBatchLayout, controlRowScales, imagePromptCacheRows, stepAttentionMode, type BatchLayout } from './layout.js';
import type { ImageInput, ResolvedOptions } from './options.js';
import type { PromptTable } from '../models/conditioning/index.js';
import type { PipelineParts } from './parts.js';
import { gatherFrames, moveTo } from '../tensor-ops.js';
import type { DenoisingStep } from '../scheduler/index.js';
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

/** Every frame's prompt in each half: frame 0 (the image prompt) has '' and its inversion prompt, the samples the negative prompt and the prompt. */
function framePrompts(o: ResolvedOptions): { uncond: string[]; cond: string[] } {
  const frames = Array.from({ length: o.samples + 1 }, (_, f) => f);
  return {
    uncond: frames.map((f) => (f === 0 ? '' : o.negativePrompt)),
    cond: frames.map((f) => withSuffix(f === 0 ? o.inversionPrompt : o.prompt, o.qualitySuffix)),
  };
}

/** The text inputs as the trace records them: the inversion's context and every distinct prompt's encoding. */
async function traceText(trace: GenerationTrace, table: PromptTable, inversion: UNetTextInputs): Promise<void> {
  trace.inversionContext = await inversion.context.readFloat32();
  trace.promptTable = {
    prompts: table.prompts,
    context: await table.context.readFloat32(),
    ...(table.pooled ? { pooled: await table.pooled.readFloat32() } : {}),
  };
  const ids = inversion.added?.timeIds;
  if (ids) trace.timeIds = Array.from(ids as ArrayLike<number>);
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

type Phase = 'encode' | 'inversion' | 'denoise' | 'decode';

/** A call's text inputs: every distinct prompt encoded once (the table), and the rows of the batch and of the inversion. */
interface CallText {
  table: PromptTable;
  layout: BatchLayout;
  rows: UNetTextInputs;
  inversion: UNetTextInputs;
}

/** One call's state, shared by its stages. It owns what the call allocates until finish(). */
class Generation {
  readonly clock = new Clock();
  readonly timings = { encode: 0, inversion: 0, denoise: 0, decode: 0, total: 0 };
  readonly kvCache: KVCacheUse = { status: 'off', reusedSteps: 0, recordedSteps: 0, entryBytes: 0 };
  /** The inversion chain: owned by the call unless a cache entry takes it. */
  readonly chain: Tensor[] = [];
  entry: CacheEntry | undefined;
  private key = '';
  private readonly owned: Disposable[] = [];
  /**
   * v-prediction: the model output is converted to (x0, ε) at the "from" level, in the inversion
   * steps as in the denoising steps (the reference's InversionV, fixtures-sd21v README).
   */
  readonly vPrediction: boolean;
  /** The call's AbortSignal as the models take it (none: {}). */
  readonly signal: { signal?: AbortSignal };
  /** Latent height, width and channels. */
  readonly h: number;
  readonly w: number;
  readonly c: number;

  constructor(
    readonly parts: PipelineParts,
    readonly o: ResolvedOptions,
    readonly trace: GenerationTrace | undefined,
    readonly cache: ImagePromptCache | undefined,
  ) {
    this.vPrediction = parts.scheduler.config.predictionType === 'v_prediction';
    this.signal = o.signal ? { signal: o.signal } : {};
    this.h = o.height / 8;
    this.w = o.width / 8;
    this.c = parts.unet.config.in_channels;
  }

  keep<T extends Disposable>(t: T): T {
    this.owned.push(t);
    return t;
  }

  keepText(t: UNetTextInputs): UNetTextInputs {
    this.keep(t.context);
    if (t.added) this.keep(t.added.textEmbeds);
    return t;
  }

  progress(phase: Phase, step: number, total: number): void {
    this.o.onProgress?.({ phase, step, total, elapsed: this.clock.elapsed() });
  }

  /** The text rows of `layout`'s batch, gathered from the table. */
  async textRows(table: PromptTable, layout: BatchLayout): Promise<UNetTextInputs> {
    const { width, height } = this.o;
    return this.keepText(await this.parts.conditioner.rows(table, rowPrompts(layout, this.o), { width, height }));
  }

  /** 1a. Text: the family's conditioning, each distinct prompt encoded once, then one row per batch row. */
  async encodeText(): Promise<CallText> {
    const { o, trace } = this;
    const layout = batchLayout(o.samples, o.guidanceMode);
    const prompts = rowPrompts(layout, o);
    const inversionPrompt = withSuffix(o.inversionPrompt, o.qualitySuffix);
    if (trace) trace.prompts = { inversion: inversionPrompt, ...framePrompts(o) };
    const size = { width: o.width, height: o.height };
    const table = this.keep(await this.parts.conditioner.encode([...new Set([inversionPrompt, ...prompts])]));
    const rows = this.keepText(await this.parts.conditioner.rows(table, prompts, size));
    const inversion = this.keepText(await this.parts.conditioner.rows(table, [inversionPrompt], size));
    if (trace) await traceText(trace, table, inversion);
    return { table, layout, rows, inversion };
  }

  /** 1b. The image prompt's latent z0 (VAE-encoded, or the cache entry's), and the ControlNet's condition image. */
  async encodeImages(): Promise<{ z0: Tensor; cond: Tensor | undefined }> {
    const { o, parts, cache, chain } = this;
    const { engine, vae } = parts;
    const image = await prepareImage(o.image, o.width, o.height);
    this.key = cache ? cacheKey(image, o, parts.controlnet !== undefined && o.task === 'structure') : '';
    this.entry = cache?.acquire(this.key);
    if (cache) this.kvCache.status = this.entry ? 'hit' : 'miss';
    if (!this.entry) {
      const pixels = this.keep(vae.engine.tensor(u8ToFloatSigned(image.data), [1, o.height, o.width, 3]));
      chain.push(await moveTo(engine, await vae.encodeScaled(pixels, { ...this.signal }), vae.engine));
      await checkFinite(chain[0]!, 'VAE encoding of the image prompt');
    }
    const z0 = this.entry ? this.entry.chain[o.steps]! : chain[0]!;
    if (this.trace) this.trace.z0 = await z0.readFloat32();
    let cond: Tensor | undefined;
    if (o.control !== undefined) {
      const controlImage = await prepareImage(o.control, o.width, o.height);
      cond = this.keep(engine.tensor(u8ToFloatUnit(controlImage.data), [1, o.height, o.width, 3]));
    }
    return { z0, cond };
  }

  /** 2. DDIM inversion of the image prompt (no guidance, batch 1, plain attention), or the cached chain: z_T first, z0 last. */
  async invert(z0: Tensor, text: UNetTextInputs): Promise<Tensor[]> {
    const { o, parts, chain } = this;
    const { engine, unet } = parts;
    if (this.entry) {
      for (let k = 1; k <= o.steps; k++) this.progress('inversion', k, o.steps);
      return this.entry.chain;
    }
    let z = z0;
    for (const step of parts.scheduler.inversionSteps(o.steps)) {
      checkAbort(o.signal);
      const eps = await unet.forward({ sample: z, timesteps: [step.timestep], ...text, sync: false, ...this.signal });
      const next = engine.empty([1, this.h, this.w, this.c]);
      chain.push(next);
      await engine.op('guidance_step', { eps, x: z, out: next, alphaFrom: step.alphaFrom, alphaTo: step.alphaTo, vPrediction: this.vPrediction, uncondRow: [-1], condRow: [0] });
      eps.dispose();
      await checkFinite(next, `inversion step ${step.index + 1} of ${o.steps}`);
      z = next;
      this.progress('inversion', step.index + 1, o.steps);
    }
    chain.reverse(); // zts[0] = most noisy, zts[steps] = z0
    if (this.cache) {
      const kv = unet.createKVCache(o.steps, imagePromptCacheRows(o.guidanceMode).length);
      this.entry = this.cache.add(this.key, [...chain], kv);
      if (this.entry) chain.length = 0; // the entry owns the chain now
      else kv.dispose();
    }
    return this.entry ? this.entry.chain : chain;
  }

  /** 3. Initial latents: frame 0 = z_T, samples = AdaIN(noise, z_T). */
  async initialLatents(zts: Tensor[]): Promise<Tensor> {
    const { o, h, w, c } = this;
    const zT = await zts[0]!.readFloat32();
    const noise = o.initialNoise ?? randn(o.seed, o.samples * h * w * c);
    const adained = adain(noise, zT, { n: o.samples, h, w, c });
    const init = new Float32Array((o.samples + 1) * h * w * c);
    init.set(zT, 0);
    init.set(adained, zT.length);
    if (this.trace) this.trace.initialLatents = init;
    return this.keep(this.parts.engine.tensor(init, [o.samples + 1, h, w, c]));
  }

  /**
   * 4. Denoising with the image prompt in the decoder self-attention. With a cache entry: the batch
   * without P's rows for the steps it holds (their text inputs gathered once), recording the other
   * steps while the budget has room.
   */
  async denoise(latents: Tensor, zts: Tensor[], cond: Tensor | undefined, text: CallText): Promise<Tensor> {
    const { o, parts, entry } = this;
    if (this.trace) this.trace.stepLatents = [];
    const cachedLayout = entry ? cachedBatchLayout(o.samples, o.guidanceMode) : undefined;
    const cached = cachedLayout ? { layout: cachedLayout, rows: await this.textRows(text.table, cachedLayout) } : undefined;
    const bytesPerValue = parts.engine.computeDtype === 'f32' ? 4 : 2;
    const stepBytes = entry ? decoderKVBytesPerStep(parts.unet.config, this.h, this.w, entry.kv.rows, bytesPerValue) : 0;
    for (const step of parts.scheduler.denoisingSteps(o.steps)) {
      checkAbort(o.signal);
      const reuse = entry !== undefined && entry.kv.has(step.index);
      const record = entry !== undefined && !reuse && this.cache!.reserve(entry, stepBytes);
      const batch = reuse ? cached! : { layout: text.layout, rows: text.rows };
      const next = await this.denoisingStep(step, latents, zts[step.index + 1]!, cond, batch, { reuse, record });
      latents.dispose();
      latents = next;
      await checkFinite(latents, `denoising step ${step.index + 1} of ${o.steps}`);
      if (this.trace) this.trace.stepLatents!.push(await latents.readFloat32());
      this.progress('denoise', step.index + 1, o.steps);
    }
    return latents;
  }

  /** One denoising step of the batch `batch` (rows of latents' frames): the next latents, frame 0 reset to `reset`. */
  private async denoisingStep(
    step: DenoisingStep,
    latents: Tensor,
    reset: Tensor,
    cond: Tensor | undefined,
    batch: { layout: BatchLayout; rows: UNetTextInputs },
    kv: { reuse: boolean; record: boolean },
  ): Promise<Tensor> {
    const { o, parts, entry } = this;
    const { engine, unet } = parts;
    const i = step.index;
    const L = batch.layout;
    const rowFrames = L.rows.map((r) => r.frame);
    const sample = await gatherFrames(engine, latents, rowFrames);
    const timesteps = rowFrames.map(() => step.timestep);
    const mode = stepAttentionMode(o.attention, i, o.stratifiedSteps);
    let control;
    if (parts.controlnet && cond) {
      const res = await parts.controlnet.forward({ sample, timesteps, context: batch.rows.context, cond, scale: o.controlScale, ...this.signal });
      control = { ...res, frameScale: controlRowScales(L, i, o.controlGuidanceEndStep) };
    }
    const eps = await unet.forward({
      sample,
      timesteps,
      ...batch.rows,
      ...(control ? { control } : {}),
      attention: { mode, ref: L.ref, lambdaRef: o.lambdaImage, lambdaSelf: o.lambdaSelf },
      ...(kv.reuse ? { refKV: { cache: entry!.kv, step: i } } : {}),
      ...(kv.record ? { recordKV: { cache: entry!.kv, step: i, rows: L.imagePromptRows } } : {}),
      // Queued only: the step's one device synchronisation is the guidance step's (below), so
      // progress and cancellation follow the device while no data comes back to the host.
      sync: false,
      ...this.signal,
    });
    if (kv.reuse) this.kvCache.reusedSteps++;
    if (kv.record) this.kvCache.recordedSteps++;
    sample.dispose();
    if (control) {
      for (const t of control.down) t.dispose();
      control.mid.dispose();
    }
    const next = this.keep(engine.empty(latents.shape));
    await engine.op('guidance_step', {
      eps,
      x: latents,
      reset,
      out: next,
      guidanceScale: o.guidanceScale,
      alphaFrom: step.alphaFrom,
      alphaTo: step.alphaTo,
      vPrediction: this.vPrediction,
      uncondRow: L.uncondRow,
      // Without P's rows frame 0 has none; the op still wants one for it, though the reset overwrites it.
      condRow: L.condRow.map((r, f) => (f === 0 && r < 0 && L.uncondRow[0]! < 0 ? 0 : r)),
      resetFrame: 0,
    });
    eps.dispose();
    return next;
  }

  /** 5. Decode the samples (and the reconstruction when asked): the frames in [-1, 1] on the host. */
  async decode(latents: Tensor): Promise<{ decoded: Float32Array; frames: number[] }> {
    const { o, parts } = this;
    const { engine, vae } = parts;
    checkAbort(o.signal);
    const first = o.includeReconstruction ? 0 : 1;
    const frames = Array.from({ length: o.samples + 1 - first }, (_, k) => k + first);
    const images = this.keep(await vae.decodeScaled(await moveTo(vae.engine, latents.slice(first, frames.length), engine), { ...this.signal }));
    await checkFinite(images, 'VAE decoding');
    const decoded = await images.readFloat32();
    if (this.trace) this.trace.decoded = decoded;
    return { decoded, frames };
  }

  /** Frees what the call owns and hands its cache entry back. */
  finish(): void {
    for (const t of this.owned) t[Symbol.dispose]();
    for (const t of this.chain) t.dispose();
    if (this.entry) {
      this.cache!.countSteps(this.kvCache.reusedSteps, this.kvCache.recordedSteps);
      this.cache!.release(this.entry);
    }
  }
}

export async function generate(parts: PipelineParts, o: ResolvedOptions, trace?: GenerationTrace, cache?: ImagePromptCache): Promise<GenerationOutput> {
  if (o.task === 'structure' && !parts.controlnet) {
    throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', 'the structure-guided task needs a ControlNet (load the pipeline with controlnet)');
  }
  const g = new Generation(parts, o, trace, cache);
  const { clock, timings, kvCache } = g;
  try {
    checkAbort(o.signal);
    const text = await g.encodeText();
    const { z0, cond } = await g.encodeImages();
    timings.encode = clock.lap();
    g.progress('encode', 1, 1);

    const zts = await g.invert(z0, text.inversion);
    if (trace) trace.inversionLatents = await Promise.all(zts.map((t) => t.readFloat32()));
    timings.inversion = clock.lap();

    const latents = await g.denoise(await g.initialLatents(zts), zts, cond, text);
    timings.denoise = clock.lap();

    const { decoded, frames } = await g.decode(latents);
    timings.decode = clock.lap();
    g.progress('decode', 1, 1);
    timings.total = clock.elapsed();
    if (g.entry) kvCache.entryBytes = g.entry.bytes;
    if (trace) trace.kvCache = { ...kvCache };
    return { decoded, frames, width: o.width, height: o.height, timings, kvCache };
  } catch (err) {
    // A stop inside a native call (between blocks) reads like one between steps, plus where it happened.
    throw o.signal?.aborted && (err as IndetailError).code === 'ERR_INDETAIL_CANCELLED' ? cancelled(o.signal, err) : err;
  } finally {
    g.finish();
  }
}
