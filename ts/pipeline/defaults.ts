// Defaults of the method, from the authors' reference code and the paper (DESIGN.md §1).

/**
 * The quality suffix the reference appends to the prompt and the inversion prompt (its
 * `use_prefix`, on in every task). The default of the `qualitySuffix` option; `false` turns it off.
 */
export const PROMPT_SUFFIX = ', best quality, extremely detailed.';
export const DEFAULT_NEGATIVE_PROMPT = 'bad anatomy, bad hands, cropped, worst quality';

export type Task = 'variation' | 'cross' | 'structure';

export interface TaskDefaults {
  steps: number;
  guidanceScale: number;
  /** Steps with Stratified Attention before switching to KV concatenation (end_stratified_attention). */
  stratifiedSteps: number;
  /** ControlNet: steps during which the unconditional rows get no control (gm_end_tsidx). */
  controlGuidanceEndStep: number;
  /** Whether the inversion uses the prompt (variation) or an empty prompt (cross, structure). */
  invertWithPrompt: boolean;
}

export const TASK_DEFAULTS: Readonly<Record<Task, Readonly<TaskDefaults>>> = Object.freeze({
  variation: { steps: 50, guidanceScale: 7.5, stratifiedSteps: 10, controlGuidanceEndStep: 0, invertWithPrompt: true },
  cross: { steps: 50, guidanceScale: 7.5, stratifiedSteps: 10, controlGuidanceEndStep: 0, invertWithPrompt: false },
  structure: { steps: 50, guidanceScale: 5, stratifiedSteps: 25, controlGuidanceEndStep: 10, invertWithPrompt: false },
});

export const DEFAULT_LAMBDA_IMAGE = 1;
export const DEFAULT_LAMBDA_SELF = 1;
export const DEFAULT_SAMPLES = 1;
export const DEFAULT_CONTROL_SCALE = 1;
export const MAX_SAMPLES = 64;
export const MAX_STEPS = 1000;

export function withSuffix(prompt: string, suffix: string): string {
  return `${prompt}${suffix}`;
}
