// Special and added tokens: which strings are split out of a prompt before cleaning and which ids
// they get, resolved from tokenizer_config.json and special_tokens_map.json the way
// transformers' PreTrainedTokenizer.from_pretrained does it.

/** A token that is matched literally in the prompt and never cleaned or BPE-encoded. */
export interface AddedToken {
  content: string;
  id: number;
  /** Strip whitespace on the token's left / right side (AddedToken.lstrip / rstrip). */
  lstrip: boolean;
  rstrip: boolean;
}

/** A token value as the config files write it: a string, an AddedToken object, or null. */
export interface TokenSpec {
  content: string;
  lstrip: boolean;
  rstrip: boolean;
}

/** One piece of a prompt: literal text, or an added token found in it. */
export type Piece = { text: string; token?: undefined } | { text: string; token: AddedToken };

// Python str.strip() whitespace (see clean.ts).
const PY_WS = '\t\n\v\f\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000';
const LEADING_WS = new RegExp(`^[${PY_WS}]+`, 'u');
const TRAILING_WS = new RegExp(`[${PY_WS}]+$`, 'u');

/**
 * Splits `text` on the added tokens, longest match at the earliest position (transformers'
 * Trie.split for non-overlapping tokens), applies their lstrip/rstrip to the neighbouring text,
 * and drops empty text pieces (PreTrainedTokenizer.tokenize). Tokens must be non-empty.
 */
export function splitOnAddedTokens(text: string, tokens: readonly AddedToken[]): Piece[] {
  const pieces: Piece[] = [];
  let start = 0;
  // Each token's next occurrence, searched again only once `start` has passed it: linear in the
  // text even when it repeats one token a million times.
  const next = tokens.map(() => -2);
  for (;;) {
    let at = -1;
    let found: AddedToken | undefined;
    tokens.forEach((t, i) => {
      if (next[i] !== -1 && next[i]! < start) next[i] = text.indexOf(t.content, start);
      const p = next[i]!;
      if (p >= 0 && (found === undefined || p < at || (p === at && t.content.length > found.content.length))) {
        at = p;
        found = t;
      }
    });
    if (found === undefined) break;
    if (at > start) pieces.push({ text: text.slice(start, at) });
    pieces.push({ text: found.content, token: found });
    start = at + found.content.length;
  }
  if (start < text.length) pieces.push({ text: text.slice(start) });

  for (let k = 0; k < pieces.length; k++) {
    const t = pieces[k]!.token;
    if (!t) continue;
    const left = pieces[k - 1];
    const right = pieces[k + 1];
    if (t.rstrip && right && !right.token) right.text = right.text.replace(LEADING_WS, '');
    if (t.lstrip && left && !left.token) left.text = left.text.replace(TRAILING_WS, '');
  }
  return pieces.filter((p) => p.text.length > 0);
}
