// Where a model's weights come from, as passed to the native model loaders: one or more
// safetensors files (a diffusers folder, or a single-file checkpoint with a key prefix and a
// name map from LDM to diffusers names), or seeded random weights for benchmarks.
import path from 'node:path';
import { IndetailError } from '../errors.js';
import { pathExists } from '../files/input-file.js';
import { openSafetensors, type SafetensorsFile } from '../safetensors.js';

export type WeightSpec =
  | { files: Array<{ file: SafetensorsFile; prefix?: string }>; map?: Record<string, string> }
  | { random: number };

/** @internal The plain object the native loaders read. */
export function nativeWeightSpec(spec: WeightSpec): Record<string, unknown> {
  if ('random' in spec) {
    if (!Number.isSafeInteger(spec.random) || spec.random < 0) {
      throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `Expected a non-negative integer seed for weights.random but received ${spec.random}`);
    }
    return { random: spec.random };
  }
  return {
    files: spec.files.map((f) => ({ file: f.file.native, prefix: f.prefix ?? '' })),
    ...(spec.map ? { map: spec.map } : {}),
  };
}

/** The weights file of a diffusers component folder (prefers .safetensors; refuses pickles). */
export async function componentWeights(dir: string, basenames: string[]): Promise<WeightSpec> {
  for (const base of basenames) {
    const file = path.join(dir, `${base}.safetensors`);
    if (await pathExists(file)) return { files: [{ file: await openSafetensors(file) }] };
  }
  for (const base of basenames) {
    for (const ext of ['.bin', '.ckpt', '.pt', '.pth']) {
      const file = path.join(dir, `${base}${ext}`);
      if (await pathExists(file)) {
        throw new IndetailError(
          'ERR_INDETAIL_UNSUPPORTED',
          `${file} is a pickle checkpoint, which indetail never loads (unpickling can run arbitrary code). ` +
            `Convert it to .safetensors first, e.g. with diffusers: DiffusionPipeline.from_pretrained(dir).save_pretrained(out, safe_serialization=True)`,
        );
      }
    }
  }
  throw new IndetailError('ERR_INDETAIL_IO', `no weights found in ${dir} (expected ${basenames.map((b) => `${b}.safetensors`).join(' or ')})`);
}
