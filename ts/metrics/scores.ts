// The paper's quality scores (fixtures-eval/README.md fixes each definition):
//   CLIP-I  mean over the generated images g of cos(E_img(g), E_img(image prompt));
//   CLIP-T  mean over g of cos(E_img(g), E_txt(text)), the text without the quality suffix;
//   DINO-G  mean over the unordered pairs i < j of generated images of mean((S_i - S_j)²), S the
//           cosine self-similarity of DINO block keys (higher = more diverse structures);
//   DINO-C  mean over g of mean((S_g - S_condition)²) (lower = closer to the ControlNet condition).
// Cosines are plain (no x100, no clamp at 0); every sum is taken in double precision.
import { IndetailError } from '../errors.js';

/** Plain cosine similarity of two vectors, in [-1, 1]. */
export function cosineSimilarity(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length || a.length === 0) {
    throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `Expected two non-empty vectors of one length but received lengths ${a.length} and ${b.length}`);
  }
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
  }
  return ab / Math.max(Math.sqrt(aa) * Math.sqrt(bb), 1e-12);
}

export function mean(values: readonly number[]): number {
  if (values.length === 0) throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', 'Expected at least one value to average');
  return values.reduce((s, v) => s + v, 0) / values.length;
}

/** A [tokens, tokens] cosine self-similarity map of one picture's DINO keys (CLS token first). */
export interface SelfSimilarityMap {
  tokens: number;
  data: Float32Array;
}

/** mean((a - b)²) over the two maps (Splice's F.mse_loss of two self-similarity maps). */
export function dinoSelfSimilarityDistance(a: SelfSimilarityMap, b: SelfSimilarityMap): number {
  if (a.tokens !== b.tokens || a.data.length !== b.data.length) {
    throw new IndetailError(
      'ERR_INDETAIL_INVALID_ARGUMENT',
      `self-similarity maps of ${a.tokens} and ${b.tokens} tokens cannot be compared: the two pictures must have the same size`,
    );
  }
  let s = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = a.data[i]! - b.data[i]!;
    s += d * d;
  }
  return s / a.data.length;
}

export interface ClipScoreInputs {
  /** Embeddings of the generated images. */
  generated: readonly Float32Array[];
  /** Embedding of the image prompt (for CLIP-I). */
  imagePrompt?: Float32Array;
  /** Embedding of the text (for CLIP-T). */
  text?: Float32Array;
}

export interface ClipScores {
  clipI?: number;
  clipT?: number;
  clipIPerImage?: number[];
  clipTPerImage?: number[];
}

/** CLIP-I and CLIP-T from embeddings (each present when its reference embedding is given). */
export function clipScoresFromEmbeddings({ generated, imagePrompt, text }: ClipScoreInputs): ClipScores {
  if (generated.length === 0) throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', 'Expected at least one generated image for the CLIP scores');
  const out: ClipScores = {};
  if (imagePrompt) {
    out.clipIPerImage = generated.map((g) => cosineSimilarity(g, imagePrompt));
    out.clipI = mean(out.clipIPerImage);
  }
  if (text) {
    out.clipTPerImage = generated.map((g) => cosineSimilarity(g, text));
    out.clipT = mean(out.clipTPerImage);
  }
  return out;
}

export interface DinoDiversity {
  /** DINO-G. */
  dinoG: number;
  /** [i, j] of each pair, i < j, in order. */
  pairs: Array<[number, number]>;
  pairDistances: number[];
}

/** DINO-G over the maps of the generated images (at least two). */
export function dinoDiversity(maps: readonly SelfSimilarityMap[]): DinoDiversity {
  if (maps.length < 2) throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `DINO-G needs at least two generated images, got ${maps.length}`);
  const pairs: Array<[number, number]> = [];
  const pairDistances: number[] = [];
  for (let i = 0; i < maps.length; i++) {
    for (let j = i + 1; j < maps.length; j++) {
      pairs.push([i, j]);
      pairDistances.push(dinoSelfSimilarityDistance(maps[i]!, maps[j]!));
    }
  }
  return { dinoG: mean(pairDistances), pairs, pairDistances };
}

export interface DinoConditionAlignment {
  /** DINO-C. */
  dinoC: number;
  distances: number[];
}

/** DINO-C: the maps of the generated images against the condition image's. */
export function dinoConditionAlignment(maps: readonly SelfSimilarityMap[], condition: SelfSimilarityMap): DinoConditionAlignment {
  if (maps.length === 0) throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', 'DINO-C needs at least one generated image');
  const distances = maps.map((m) => dinoSelfSimilarityDistance(m, condition));
  return { dinoC: mean(distances), distances };
}
