// The model families indetail knows, and how a model on disk is recognised as one of them
// (DESIGN.md §7). Each recognition carries its reason, for `indetail info`.
import path from 'node:path';
import { IndetailError } from '../../errors.js';
import type { RawConfig } from '../config-check.js';
import type { FolderConfigs, ModelFamily } from './descriptor.js';
import { SD1 } from './sd1.js';
import { SD2 } from './sd2.js';
import { SDXL } from './sdxl.js';

export type { FamilyCallDefaults, FamilyId, FolderConfigs, ModelFamily, SingleFileTextEncoder } from './descriptor.js';

/** Most specific first: detection takes the first family that matches. */
export const FAMILIES: readonly ModelFamily[] = [SDXL, SD2, SD1];

export interface FamilyMatch {
  family: ModelFamily;
  reason: string;
}

/** Refuses a model_index.json whose pipeline class no family loads. */
export function checkPipelineClass(dir: string, index: RawConfig): void {
  const cls = index._class_name;
  if (typeof cls === 'string' && !FAMILIES.some((f) => f.pipelineClasses.includes(cls))) {
    const known = [...new Set(FAMILIES.flatMap((f) => f.pipelineClasses))].join(', ');
    throw new IndetailError('ERR_INDETAIL_UNSUPPORTED', `${dir}: model_index.json describes a ${cls}; indetail loads ${known} (${FAMILIES.map((f) => f.name).join(', ')})`);
  }
}

/** The family of a diffusers folder, from its configs. */
export function detectFolderFamily(dir: string, configs: FolderConfigs): FamilyMatch {
  for (const family of FAMILIES) {
    const reason = family.detectFolder(configs);
    if (reason) return { family, reason };
  }
  throw new IndetailError(
    'ERR_INDETAIL_UNSUPPORTED',
    `${dir}: not a Stable Diffusion family indetail knows (${FAMILIES.map((f) => f.name).join(', ')}): text encoder hidden_act ${JSON.stringify(configs.textEncoder.hidden_act)}`,
  );
}

/** The family of a single-file checkpoint, from the key prefix of its text encoder; undefined when none matches. */
export function detectSingleFileFamily(names: string[]): FamilyMatch | undefined {
  for (const family of FAMILIES) {
    const prefix = family.singleFile.textEncoderPrefix;
    if (names.some((n) => n.startsWith(prefix))) return { family, reason: `its text encoder is stored under '${prefix}*'` };
  }
  return undefined;
}

/** The scheduler config shipped with a family (its prediction type is the family's default). */
export function shippedSchedulerConfig(family: ModelFamily): string {
  return path.join(family.configDir, 'scheduler', 'scheduler_config.json');
}

export { SD1, SD2, SDXL };
