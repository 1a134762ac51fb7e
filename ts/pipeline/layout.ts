// The UNet batch of one denoising step, as data (DESIGN.md §1): which frame and branch each row
// holds, which row's keys/values each row also attends to in the decoder self-attention, which
// rows classifier-free guidance combines, and which rows receive ControlNet residuals.
//
// Frames: 0 = the image prompt P, 1..n = the samples G1..Gn.
// Conflicting guidance (the baseline, the reference's layout): [P⁻, G1⁻..Gn⁻, P⁺, G1⁺..Gn⁺],
//   Gk⁻ attend to P⁻ and Gk⁺ to P⁺.
// Conflict-free guidance: only positive rows see P: [P⁺, G1⁻..Gn⁻, G1⁺..Gn⁺]. The reference also
//   computes P⁻, but its result is discarded (P's latent is reset from the inversion chain), so it
//   is dropped unless `keepNegativeImagePrompt` asks for the reference's full layout.
// With the image-prompt K/V cache (cachedBatchLayout) P's rows leave the batch altogether: P's
//   latent follows the inversion chain anyway and the rows that attend to P read its decoder
//   self-attention keys/values from the cache, whose rows are IMAGE_PROMPT_CACHE_ROWS.

export type GuidanceMode = 'conflict-free' | 'conflicting';
export type Branch = 'uncond' | 'cond';
export type AttentionVariant = 'stratified' | 'concat' | 'replace' | 'none';
export type RefMode = 'none' | 'concat' | 'stratified' | 'replace';

export interface BatchRow {
  frame: number;
  branch: Branch;
}

export interface BatchLayout {
  frames: number;
  rows: BatchRow[];
  /** Where `ref` points: rows of this batch, or rows of the image-prompt K/V cache. */
  refSource: 'batch' | 'cache';
  /** Per row: the row (of the batch or of the cache) whose self-attention keys/values it also attends to, or -1. */
  ref: number[];
  /** Batch rows of the image prompt in cache-row order (what a K/V cache records); empty when the cache is the source. */
  imagePromptRows: number[];
  /** Per frame: rows of the unconditional / conditional predictions (-1: none). */
  uncondRow: number[];
  condRow: number[];
}

export function batchLayout(samples: number, mode: GuidanceMode, keepNegativeImagePrompt = false): BatchLayout {
  if (!Number.isInteger(samples) || samples < 1) throw new RangeError(`samples must be a positive integer, got ${samples}`);
  const frames = samples + 1;
  const rows: BatchRow[] = [];
  const withNegativeP = mode === 'conflicting' || keepNegativeImagePrompt;
  if (withNegativeP) rows.push({ frame: 0, branch: 'uncond' });
  for (let k = 1; k < frames; k++) rows.push({ frame: k, branch: 'uncond' });
  rows.push({ frame: 0, branch: 'cond' });
  for (let k = 1; k < frames; k++) rows.push({ frame: k, branch: 'cond' });

  const rowOf = (frame: number, branch: Branch) => rows.findIndex((r) => r.frame === frame && r.branch === branch);
  const ref = rows.map((r) => {
    if (r.frame === 0) return -1; // P itself: plain self-attention
    if (r.branch === 'cond') return rowOf(0, 'cond');
    return mode === 'conflicting' ? rowOf(0, 'uncond') : -1; // conflict-free: negatives never see P
  });
  const uncondRow = Array.from({ length: frames }, (_, f) => rowOf(f, 'uncond'));
  const condRow = Array.from({ length: frames }, (_, f) => rowOf(f, 'cond'));
  const imagePromptRows = imagePromptCacheRows(mode).map((branch) => rowOf(0, branch));
  return { frames, rows, refSource: 'batch', ref, imagePromptRows, uncondRow, condRow };
}

/** The image prompt's rows a K/V cache holds, in cache-row order: P⁺, and P⁻ under conflicting guidance. */
export function imagePromptCacheRows(mode: GuidanceMode): Branch[] {
  return mode === 'conflicting' ? ['cond', 'uncond'] : ['cond'];
}

/**
 * The batch when the image prompt's keys/values come from the K/V cache: [G1⁻..Gn⁻, G1⁺..Gn⁺]
 * (batch 2n). ref indexes the cache's rows (imagePromptCacheRows). Frame 0 has no row: it is
 * reset from the inversion chain after every step.
 */
export function cachedBatchLayout(samples: number, mode: GuidanceMode): BatchLayout {
  if (!Number.isInteger(samples) || samples < 1) throw new RangeError(`samples must be a positive integer, got ${samples}`);
  const frames = samples + 1;
  const rows: BatchRow[] = [];
  for (const branch of ['uncond', 'cond'] as const) for (let k = 1; k < frames; k++) rows.push({ frame: k, branch });
  const cacheRows = imagePromptCacheRows(mode);
  const ref = rows.map((r) => cacheRows.indexOf(r.branch)); // -1 for negatives under conflict-free guidance
  const rowOf = (frame: number, branch: Branch) => rows.findIndex((r) => r.frame === frame && r.branch === branch);
  const uncondRow = Array.from({ length: frames }, (_, f) => rowOf(f, 'uncond'));
  const condRow = Array.from({ length: frames }, (_, f) => rowOf(f, 'cond'));
  return { frames, rows, refSource: 'cache', ref, imagePromptRows: [], uncondRow, condRow };
}

/** The attention mode of step i: stratified for the first `stratifiedSteps` steps, then concatenation. */
export function stepAttentionMode(variant: AttentionVariant, step: number, stratifiedSteps: number): RefMode {
  switch (variant) {
    case 'none': return 'none';
    case 'replace': return 'replace';
    case 'concat': return 'concat';
    case 'stratified': return step < stratifiedSteps ? 'stratified' : 'concat';
  }
}

/**
 * The reference's ControlNet residual masking (official src/unet.py): residuals are zeroed for
 * both image-prompt rows always, and for every unconditional row while step < gmEndStep.
 */
export function controlRowScales(layout: BatchLayout, step: number, gmEndStep: number): number[] {
  return layout.rows.map((r) => (r.frame === 0 || (r.branch === 'uncond' && step < gmEndStep) ? 0 : 1));
}
