// Unknown keys of an options object are errors that name the key and suggest the closest known
// one (`guidance_scale` -> `guidanceScale`, `guidanceScal` -> `guidanceScale`). Each call type
// keeps its known keys in one table (`keyTable`), from which the check and the suggestion come.
import { IndetailError } from './errors.js';

/**
 * The keys of an options type as a runtime list. The record must name every key of T (the
 * compiler refuses a missing or an extra one), so the list cannot drift from the type.
 */
export function keyTable<T>(keys: Record<keyof T, true>): readonly string[] {
  return Object.freeze(Object.keys(keys));
}

// Case, '_' and '-' do not count: guidance_scale, guidance-scale and GUIDANCESCALE all match guidanceScale.
function fold(key: string): string {
  return key.toLowerCase().replace(/[_-]/g, '');
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row.push(Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)));
    }
    prev = row;
  }
  return prev[b.length]!;
}

/** The known key `key` most likely stands for, if any is close enough. */
export function closestKey(key: string, known: readonly string[]): string | undefined {
  const f = fold(key);
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = editDistance(f, fold(k));
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  // A typo or two in a long name, one in a short one; never a guess for an unrelated word.
  return best !== undefined && bestDistance <= Math.max(1, Math.min(3, Math.floor(f.length / 4))) ? best : undefined;
}

/** "unknown option 'x' for <what>; did you mean 'y'?" plus the known keys when there is no close one. */
export function unknownKeyMessage(key: string, known: readonly string[], what: string, quote = (k: string) => `'${k}'`): string {
  const near = closestKey(key, known);
  return near !== undefined
    ? `Unknown option ${quote(key)} for ${what}; did you mean ${quote(near)}?`
    : `Unknown option ${quote(key)} for ${what}; known options: ${known.map(quote).join(', ')}`;
}

/**
 * Refuses keys of `options` that are not in `known`, and null values (an option is either left
 * out, or undefined, for its default, or given a value).
 */
export function checkKnownKeys(options: object, known: readonly string[], what: string): void {
  for (const [key, value] of Object.entries(options)) {
    if (!known.includes(key)) throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', unknownKeyMessage(key, known, what));
    if (value === null) {
      throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `Expected a value for ${key} but received null; leave it out (or undefined) for the default`);
    }
  }
}
