// Sizes whose cost is unreasonable for the backend are refused before any work, with the
// estimate and how to override it. The cost of a UNet pass is counted from the config
// (unetFlops); its quadratic attention term is what makes large sizes explode (SD1.5: 0.8 TFLOP
// at 512x512, 4.7 at 1024x1024, 42 at 2048x2048, 545 at 4096x4096).
import { unetFlops } from '../models/unet-flops.js';
import { defaultImageSide, type UNetConfig } from '../models/unet-config.js';
import { invalid } from '../validate.js';
import { batchLayout } from './layout.js';
import type { ResolvedOptions } from './options.js';

/** Most FLOPs of one UNet pass (one frame) run without allowLargeSize: SD1.5 up to ~1100x1100 on the CPU, ~2900x2900 on CUDA. */
export const UNET_PASS_FLOP_LIMIT: Readonly<Record<'cpu' | 'cuda', number>> = Object.freeze({ cpu: 6e12, cuda: 1e14 });

function passFlops(config: UNetConfig, width: number, height: number): number {
  return unetFlops(config, { frames: 1, height: height / 8, width: width / 8, contextLength: 77 });
}

/**
 * The limit per UNet pass for a model: the backend's, or twice the cost at the model's own default
 * size where that is more, so that a model always runs at its default size and at sizes of about
 * as many pixels (SDXL on the CPU: 6.8 TFLOP at 1024x1024, so also 1152x896 and 1344x768).
 */
export function passFlopLimit(config: UNetConfig, device: 'cpu' | 'cuda'): number {
  const side = defaultImageSide(config);
  return Math.max(UNET_PASS_FLOP_LIMIT[device], 2 * passFlops(config, side, side));
}

/** UNet passes (frames through the UNet) of a call: the inversion's, then every denoising step's batch. */
export function unetPasses(o: Pick<ResolvedOptions, 'steps' | 'samples' | 'guidanceMode'>): number {
  return o.steps + o.steps * batchLayout(o.samples, o.guidanceMode).rows.length;
}

function tflop(f: number): string {
  return f >= 1e15 ? `${(f / 1e15).toFixed(1)} PFLOP` : `${(f / 1e12).toFixed(f >= 1e13 ? 0 : 1)} TFLOP`;
}

export function checkCallCost(config: UNetConfig, o: ResolvedOptions, device: 'cpu' | 'cuda'): void {
  if (o.allowLargeSize) return;
  const perPass = passFlops(config, o.width, o.height);
  const limit = passFlopLimit(config, device);
  if (perPass <= limit) return;
  const where = device === 'cpu' ? 'the CPU' : 'CUDA';
  invalid(
    `size ${o.width}x${o.height} would cost about ${tflop(perPass)} per UNet pass, ${(perPass / limit).toFixed(1)}x the limit for ${where} (${tflop(limit)}); ` +
      `this call makes ${unetPasses(o)} passes, about ${tflop(perPass * unetPasses(o))} in all. ` +
      'Choose a smaller size, or pass allowLargeSize: true (CLI: --allow-large-size) to run it anyway: ' +
      'it reports progress per step and its AbortSignal (Ctrl-C on the CLI) stops it within a UNet block',
  );
}
