// CLIP's pre-tokenisation regex, compiled by Python's `regex` module with IGNORECASE:
//   <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
// JavaScript's /i flag folds case differently inside classes, so the pattern is written out
// without it, as Python matches it:
// - literal letters match both cases, and `s` also matches U+017F (long s), by simple case folding;
// - the letter and digit classes are unchanged by IGNORECASE, but U+0345 (combining iota
//   subscript, case-equivalent to the letter iota) drops out of the "other" class, so it matches
//   no branch and findall skips it (JavaScript's /iu would count it as a letter);
// - \s is Python's White_Space set (JavaScript's \s differs on U+0085 and U+FEFF).

function caseless(literal: string): string {
  let out = '';
  for (const ch of literal) {
    if (ch === 's') out += '[sS\u017f]';
    else if (/[a-z]/.test(ch)) out += `[${ch}${ch.toUpperCase()}]`;
    else out += ch === '|' ? '\\|' : ch;
  }
  return out;
}

const PY_SPACE = '\\t\\n\\v\\f\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';

const CLIP_PATTERN = new RegExp(
  [
    ...['<|startoftext|>', '<|endoftext|>', "'s", "'t", "'re", "'ve", "'m", "'ll", "'d"].map(caseless),
    '\\p{L}+',
    '\\p{N}',
    `[^${PY_SPACE}\\p{L}\\p{N}\\u0345]+`,
  ].join('|'),
  'gu',
);

/** The regex matches of cleaned text, in order (Python's re.findall), found as they are consumed. */
export function* pretokenize(cleaned: string): Generator<string> {
  for (const m of cleaned.matchAll(CLIP_PATTERN)) yield m[0];
}
