// sharp is loaded on first use, so that importing indetail (or running on a machine where only
// the engine is needed) does not load libvips.
import type SharpModule from 'sharp';

let cached: typeof SharpModule | undefined;

export async function loadSharp(): Promise<typeof SharpModule> {
  cached ??= (await import('sharp')).default;
  return cached;
}
