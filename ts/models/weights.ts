// Where a model's weights come from, as passed to the native model loaders: one or more
// safetensors files (a diffusers folder, or a single-file checkpoint with a key prefix and a
// name map from LDM to diffusers names), or seeded random weights for benchmarks.
import path from 'node:path';
import { IndetailError } from '../errors.js';
import { pathExists } from '../files/input-file.js';
import { openSafetensors, type SafetensorsFile } from '../safetensors.js';

/**
 * A model tensor read as part of a stored one: rows [begin, begin + count) of its first
 * dimension, then transposed when asked (OpenCLIP's packed in_proj_weight, its text_projection).
 */
export interface WeightView {
  key: string;
  rows?: [number, number];
  transpose?: boolean;
}

/** Model (diffusers) name -> the file key holding it, or a view of one. */
export type WeightMap = Record<string, string | WeightView>;

export type WeightSpec =
  | { files: Array<{ file: SafetensorsFile; prefix?: string }>; map?: WeightMap }
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

export const PICKLE_EXTENSIONS = ['.ckpt', '.pt', '.pth', '.bin', '.pkl'];

/** How to convert a diffusers model's pickles (the default advice of the refusals below). */
export const DIFFUSERS_CONVERSION = 'with diffusers: DiffusionPipeline.from_pretrained(dir).save_pretrained(out, safe_serialization=True)';

/** Throws for a pickle checkpoint (by extension), saying why and how to convert it (`conversion`). */
export function refusePickle(file: string, conversion: string = DIFFUSERS_CONVERSION): void {
  const ext = path.extname(file).toLowerCase();
  if (!PICKLE_EXTENSIONS.includes(ext)) return;
  throw new IndetailError(
    'ERR_INDETAIL_UNSUPPORTED',
    `${file} is a pickle checkpoint (${ext}), which indetail never loads: unpickling can execute arbitrary code. ` +
      `Convert it to .safetensors first (e.g. ${conversion}).`,
  );
}

/** The weights file of a component folder (prefers .safetensors; refuses pickles with `conversion` advice). */
export async function componentWeights(dir: string, basenames: string[], conversion?: string): Promise<WeightSpec> {
  for (const base of basenames) {
    const file = path.join(dir, `${base}.safetensors`);
    if (await pathExists(file)) return { files: [{ file: await openSafetensors(file) }] };
  }
  for (const base of basenames) {
    for (const ext of PICKLE_EXTENSIONS) {
      const file = path.join(dir, `${base}${ext}`);
      if (await pathExists(file)) refusePickle(file, conversion);
    }
  }
  throw new IndetailError('ERR_INDETAIL_IO', `no weights found in ${dir} (expected ${basenames.map((b) => `${b}.safetensors`).join(' or ')})`);
}
