// The --precision flag of every command that loads a pipeline (generation, eval, worker): one
// definition, its values from precision.ts.
import type { Options } from 'yargs';
import { PRECISION_OPTIONS, type PrecisionOption } from '../precision.js';

export const precisionFlag: Options = {
  choices: PRECISION_OPTIONS,
  describe: 'cpu: f32 or bf16; cuda: f16 or bf16; auto (default): bf16 on CPUs with AVX512-BF16/AMX for full-size models, else f32 (cpu) / f16 (cuda)',
};

/** The load option for a --precision value (none when the flag is absent: the pipeline's 'auto'). */
export function precisionOption(flag: unknown): { precision?: PrecisionOption } {
  return flag === undefined ? {} : { precision: flag as PrecisionOption };
}
