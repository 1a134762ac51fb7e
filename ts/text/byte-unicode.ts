// GPT-2's reversible byte -> character table, used by CLIP's byte-level BPE: the 188 printable
// bytes map to themselves, the other 68 (controls, space, ...) to U+0100 onwards, so every byte
// sequence becomes a string of visible characters and BPE never sees whitespace.

function buildTable(): string[] {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b); // '!'..'~'
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b); // '¡'..'¬'
  for (let b = 0xae; b <= 0xff; b++) printable.push(b); // '®'..'ÿ'
  const table = new Array<string>(256);
  for (const b of printable) table[b] = String.fromCharCode(b);
  let next = 0;
  for (let b = 0; b < 256; b++) {
    if (table[b] === undefined) table[b] = String.fromCharCode(256 + next++);
  }
  return table;
}

/** byte value -> its character. */
export const BYTE_TO_UNICODE: readonly string[] = buildTable();

/** character -> byte value (the inverse of BYTE_TO_UNICODE). */
export const UNICODE_TO_BYTE: ReadonlyMap<string, number> = new Map(BYTE_TO_UNICODE.map((c, b) => [c, b]));

const encoder = new TextEncoder();

/** The UTF-8 bytes of `text`, each written as its BYTE_TO_UNICODE character. */
export function bytesToUnicode(text: string): string {
  let ascii = true;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) {
      ascii = false;
      break;
    }
  }
  if (ascii) return text; // printable ASCII maps to itself
  let out = '';
  for (const b of encoder.encode(text)) out += BYTE_TO_UNICODE[b]!;
  return out;
}

/**
 * Inverse of bytesToUnicode for a concatenation of BPE tokens: characters back to bytes, then
 * UTF-8 decoding with U+FFFD for invalid sequences (HF's errors="replace"). Characters outside the
 * table (BPE never produces them) are kept as their own UTF-8 bytes.
 */
export function unicodeToText(symbols: string): string {
  const bytes: number[] = [];
  for (const ch of symbols) {
    const b = UNICODE_TO_BYTE.get(ch);
    if (b !== undefined) bytes.push(b);
    else for (const x of encoder.encode(ch)) bytes.push(x);
  }
  return new TextDecoder('utf-8', { fatal: false }).decode(Uint8Array.from(bytes));
}
