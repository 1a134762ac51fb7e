// Validation of model config files (config.json of a diffusers component): each check names the
// file, the field and what is allowed, so an unsupported checkpoint is refused before any work.
import { IndetailError } from '../errors.js';
import { MAX_CONFIG_FILE_BYTES, readRegularTextFile } from '../files/input-file.js';

export type RawConfig = Record<string, unknown>;

export async function readConfigFile(file: string): Promise<RawConfig> {
  const text = await readRegularTextFile('config', file, { maxBytes: MAX_CONFIG_FILE_BYTES });
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new IndetailError('ERR_INDETAIL_BAD_FILE', `${file} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new IndetailError('ERR_INDETAIL_BAD_FILE', `${file} must hold a JSON object`);
  }
  return value as RawConfig;
}

export class ConfigChecker {
  constructor(
    readonly raw: RawConfig,
    readonly source: string,
  ) {}

  private fail(field: string, message: string): never {
    throw new IndetailError('ERR_INDETAIL_UNSUPPORTED', `${this.source}: ${field} ${message}`);
  }
  private bad(field: string, what: string): never {
    throw new IndetailError('ERR_INDETAIL_BAD_FILE', `${this.source}: expected ${what} for '${field}' but found ${JSON.stringify(this.raw[field])}`);
  }

  has(field: string): boolean {
    return this.raw[field] !== undefined && this.raw[field] !== null;
  }
  int(field: string, def?: number): number {
    const v = this.raw[field] ?? def;
    if (typeof v !== 'number' || !Number.isInteger(v)) this.bad(field, 'an integer');
    return v;
  }
  positiveInt(field: string, def?: number): number {
    const v = this.int(field, def);
    if (v <= 0) this.bad(field, 'a positive integer');
    return v;
  }
  number(field: string, def?: number): number {
    const v = this.raw[field] ?? def;
    if (typeof v !== 'number' || !Number.isFinite(v)) this.bad(field, 'a number');
    return v;
  }
  bool(field: string, def?: boolean): boolean {
    const v = this.raw[field] ?? def;
    if (typeof v !== 'boolean') this.bad(field, 'true or false');
    return v;
  }
  string(field: string, def?: string): string {
    const v = this.raw[field] ?? def;
    if (typeof v !== 'string') this.bad(field, 'a string');
    return v;
  }
  ints(field: string, def?: number[]): number[] {
    const v = this.raw[field] ?? def;
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' && Number.isInteger(x))) this.bad(field, 'a list of integers');
    return v as number[];
  }
  strings(field: string, def?: string[]): string[] {
    const v = this.raw[field] ?? def;
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) this.bad(field, 'a list of strings');
    return v as string[];
  }
  /** An int or a per-level list of ints, returned as a list of `n`. */
  intPerLevel(field: string, n: number, def?: number | number[]): number[] {
    const v = this.raw[field] ?? def;
    if (typeof v === 'number' && Number.isInteger(v)) return Array(n).fill(v);
    const list = this.ints(field, def as number[] | undefined);
    if (list.length !== n) this.bad(field, `an integer or a list of ${n} integers`);
    return list;
  }
  /** Refuses any value other than the allowed ones, naming the field. */
  oneOf<T extends string | number | boolean | null>(field: string, allowed: readonly T[], def: T): T {
    const v = (this.raw[field] ?? def) as T;
    if (!allowed.includes(v)) this.fail(field, `= ${JSON.stringify(v)} is not supported (supported: ${allowed.map((a) => JSON.stringify(a)).join(', ')})`);
    return v;
  }
  /** Refuses a field whose value differs from the only supported one (absent is fine). */
  only<T>(field: string, supported: T): void {
    if (this.has(field) && JSON.stringify(this.raw[field]) !== JSON.stringify(supported)) {
      this.fail(field, `= ${JSON.stringify(this.raw[field])} is not supported (only ${JSON.stringify(supported)})`);
    }
  }
}
