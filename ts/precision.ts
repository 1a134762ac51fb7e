// Numeric precision: the one place that says which precisions each backend offers, what 'auto'
// picks, and which precision each model of a pipeline runs in.
//
//   cpu:  'f32'  fp32 everywhere (the reference; weights of a half-precision checkpoint stay half
//                and are widened per tile, exactly)
//         'bf16' bf16 weights; convolutions, linears and attention matmuls multiply bf16 with fp32
//                accumulation (AVX512-BF16 / AMX when the CPU has them); norms, softmax
//                statistics, activations and the guidance step stay fp32
//   cuda: 'f16' (default) or 'bf16' storage, fp32 accumulation
//   'auto' (pipelines): bf16 on a CPU with native bf16 dot products for full-size models, f32 on
//   other CPUs and for tiny models (the golden fixtures), f16 on CUDA.
//
// A pipeline's models (pipelinePrecisions): the text encoders, the UNet and a ControlNet run in
// `precision`; the VAE runs in `vaePrecision` when given, else in the same precision, except that
// a VAE that overflows in fp16 (its family says so: SDXL's force_upcast) never runs in f16 but in
// bf16 (fp32's range). bf16 and f32 never overflow where f16 does, so on the CPU the VAE follows
// `precision`.
import { IndetailError } from './errors.js';
import { addon } from './native/addon.js';
import { invalid, show } from './validate.js';

export type Precision = 'f32' | 'bf16' | 'f16';
export type PrecisionOption = Precision | 'auto';

/** Every value the precision option takes on some backend (which ones a backend takes: resolvePrecision). */
export const PRECISION_OPTIONS: readonly PrecisionOption[] = ['auto', 'f32', 'bf16', 'f16'];

const ALLOWED: Record<'cpu' | 'cuda', readonly Precision[]> = { cpu: ['f32', 'bf16'], cuda: ['f16', 'bf16'] };
const DEVICE_DEFAULT: Record<'cpu' | 'cuda', Precision> = { cpu: 'f32', cuda: 'f16' };

/** Whether this CPU multiplies bf16 natively at the current INDETAIL_CPU_LEVEL (AVX512-BF16 or AMX). */
export function cpuHasBf16(): boolean {
  return /^(avx512bf16|amx)$/.test(addon().buildInfo().cpuFeatures);
}

/** Widest UNet block (channels) from which a model counts as full-size: SD1.x/2.x/XL reach 1280, the tiny test models 64. */
export const FULL_SIZE_CHANNELS = 320;

/** Whether a UNet of these block channels is a full-size model (not a tiny test model). */
export function isFullSizeModel(blockOutChannels: readonly number[]): boolean {
  return Math.max(0, ...blockOutChannels) >= FULL_SIZE_CHANNELS;
}

function describe(device: 'cpu' | 'cuda'): string {
  return ALLOWED[device].map((p) => `'${p}'`).join(' or ');
}

/**
 * Checks a precision option before the backend is known (load options): one of PRECISION_OPTIONS.
 * Whether the backend takes it is checked when it is resolved. `name`: the option's name.
 */
export function checkPrecisionOption(v: unknown, name = 'precision'): void {
  if (!(PRECISION_OPTIONS as readonly unknown[]).includes(v)) {
    invalid(`Expected 'auto', ${describe('cpu')} (CPU) or ${describe('cuda')} (CUDA) for ${name} but received ${show(v)}`);
  }
}

/**
 * The precision an engine on `device` runs with. `requested` undefined = the device's default;
 * 'auto' also looks at the model (fullSize) and, on the CPU, at bf16 support. `name`: the
 * option's name in the error.
 */
export function resolvePrecision(requested: unknown, device: 'cpu' | 'cuda', model: { fullSize: boolean } = { fullSize: false }, name = 'precision'): Precision {
  if (requested === undefined) return DEVICE_DEFAULT[device];
  if (requested === 'auto') {
    if (device === 'cpu') return model.fullSize && cpuHasBf16() ? 'bf16' : 'f32';
    return DEVICE_DEFAULT[device];
  }
  if (typeof requested === 'string' && (ALLOWED[device] as readonly string[]).includes(requested)) return requested as Precision;
  throw new IndetailError(
    'ERR_INDETAIL_INVALID_ARGUMENT',
    `Expected ${describe(device)} (or 'auto') for ${name} on the ${device} backend but received ${JSON.stringify(requested)}`,
  );
}

/** The precisions of a pipeline's models: `models` for the text encoders, UNet and ControlNet; `vae` for the VAE. */
export interface PipelinePrecisions {
  models: Precision;
  vae: Precision;
}

/**
 * The precisions a pipeline's models run with on `device` (the rule at the top of this file):
 * 'auto' (the default) weighs the UNet's size; `vaeNeedsUpcast` says the VAE overflows in fp16.
 */
export function pipelinePrecisions(
  requested: { precision?: PrecisionOption | undefined; vaePrecision?: PrecisionOption | undefined },
  device: 'cpu' | 'cuda',
  model: { unetBlockOutChannels: readonly number[]; vaeNeedsUpcast: boolean },
): PipelinePrecisions {
  const size = { fullSize: isFullSizeModel(model.unetBlockOutChannels) };
  const models = resolvePrecision(requested.precision ?? 'auto', device, size);
  if (requested.vaePrecision !== undefined && requested.vaePrecision !== 'auto') {
    return { models, vae: resolvePrecision(requested.vaePrecision, device, size, 'vaePrecision') };
  }
  return { models, vae: models === 'f16' && model.vaeNeedsUpcast ? 'bf16' : models };
}
