// Text cleaning of Hugging Face's slow CLIPTokenizer when `ftfy` is not installed: its
// BasicTokenizer(strip_accents=False, do_split_on_punc=False). The Python semantics are mirrored
// exactly; see test/fixtures/README.md, section "tokenizer".

// Dropped: U+0000, U+FFFD and every character of Unicode category C (Cc, Cf, Cs, Co, Cn) except
// \t \n \r (BasicTokenizer._clean_text / _is_control). Lone surrogates are Cs.
const DROPPED = /[\0\uFFFD]|(?![\t\n\r])\p{C}/gu;

// Mapped to a space: ' ', \t, \n, \r and category Zs (_is_whitespace).
const WHITESPACE = /[\t\n\r\p{Zs}]/gu;

// CJK ideographs get a space on each side (_tokenize_chinese_chars).
const CJK = /[\u{4E00}-\u{9FFF}\u{3400}-\u{4DBF}\u{20000}-\u{2A6DF}\u{2A700}-\u{2CEAF}\u{F900}-\u{FAFF}\u{2F800}-\u{2FA1F}]/gu;

// Python's str.isspace(): bidirectional class WS, B or S, or category Zs. str.split() with no
// argument splits on runs of these (after cleaning only ' ', U+2028 and U+2029 can remain).
const PY_WHITESPACE = /[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/u;

/** Python's `text.split()`: the non-empty pieces between runs of Python whitespace. */
export function pythonSplit(text: string): string[] {
  return text.split(PY_WHITESPACE).filter((s) => s.length > 0);
}

/**
 * BasicTokenizer.tokenize(text) joined with single spaces, as CLIPTokenizer._tokenize uses it:
 * clean, space out CJK ideographs, NFC, split on whitespace, lower-case each word.
 */
export function cleanText(text: string): string {
  let t = text.replace(DROPPED, '').replace(WHITESPACE, ' ').replace(CJK, ' $& ').normalize('NFC');
  const words = pythonSplit(t);
  for (let i = 0; i < words.length; i++) words[i] = words[i]!.toLowerCase();
  // BasicTokenizer splits the joined words once more; lower-casing never creates whitespace, so
  // joining is all that remains.
  t = words.join(' ');
  return t;
}
