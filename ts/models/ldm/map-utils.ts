// Helpers shared by the single-file name maps: a map from a renaming function, and the number of
// text-encoder layers a map holds.
import type { WeightMap } from '../weights.js';

/** diffusers name -> full key, for every key under `prefix` that `rename` (given the key without the prefix) maps. */
export function buildMap(names: string[], prefix: string, rename: (key: string) => string | undefined): Record<string, string> {
  const map: Record<string, string> = {};
  for (const full of names) {
    if (!full.startsWith(prefix)) continue;
    const d = rename(full.slice(prefix.length));
    if (d !== undefined) map[d] = full;
  }
  return map;
}

/** Number of distinct text_model.encoder.layers.N in a text-encoder map. */
export function countLayers(map: WeightMap): number {
  return new Set(Object.keys(map).map((n) => /^text_model\.encoder\.layers\.(\d+)\./.exec(n)?.[1]).filter(Boolean)).size;
}
