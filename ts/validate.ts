// Small checks of option values: each error names the option, what is allowed and what was received.
import { IndetailError } from './errors.js';

export function invalid(message: string): never {
  throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', message);
}

/** A value as a message shows it. */
export function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'function') return 'a function';
  if (v instanceof Uint8Array) return 'a byte array';
  if (typeof v === 'object' && v !== null) return Array.isArray(v) ? 'an array' : 'an object';
  return String(v);
}

export function intIn(name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) invalid(`Expected an integer between ${min} and ${max} for ${name} but received ${show(v)}`);
  return v;
}

export function numIn(name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) invalid(`Expected a number between ${min} and ${max} for ${name} but received ${show(v)}`);
  return v;
}

export function str(name: string, v: unknown): string {
  if (typeof v !== 'string') invalid(`Expected a string for ${name} but received ${show(v)}`);
  return v;
}

export function oneOf<T extends string>(name: string, v: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(v as T)) invalid(`Expected one of ${allowed.map((a) => `'${a}'`).join(', ')} for ${name} but received ${show(v)}`);
  return v as T;
}

export function bool(name: string, v: unknown, def: boolean): boolean {
  if (v === undefined) return def;
  if (typeof v !== 'boolean') invalid(`Expected a boolean for ${name} but received ${show(v)}`);
  return v;
}
