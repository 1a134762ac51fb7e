// Byte-level BPE as CLIPTokenizer.bpe does it: the word's characters are the initial symbols, the
// last one carrying the end-of-word marker `</w>`; the adjacent pair with the lowest merge rank is
// merged everywhere (left to right, non-overlapping) until no adjacent pair has a rank.

export const END_OF_WORD = '</w>';

/** Merge ranks keyed by `${left} ${right}` (neither side contains a space). */
export type MergeRanks = ReadonlyMap<string, number>;

/** Ranks of merges (`${left} ${right}`) in file order; a pair listed twice keeps its later rank, like HF's dict. */
export function mergeRanks(merges: readonly string[]): Map<string, number> {
  const ranks = new Map<string, number>();
  merges.forEach((pair, i) => ranks.set(pair, i));
  return ranks;
}

/** BPE symbols of one word given in byte-unicode characters (non-empty, no spaces). */
export function bytePairEncode(word: string, ranks: MergeRanks): string[] {
  let symbols = Array.from(word);
  symbols[symbols.length - 1] += END_OF_WORD;
  if (symbols.length === 1) return symbols;
  for (;;) {
    let best = -1;
    let bestRank = Infinity;
    for (let i = 0; i + 1 < symbols.length; i++) {
      const r = ranks.get(`${symbols[i]} ${symbols[i + 1]}`);
      if (r !== undefined && r < bestRank) {
        bestRank = r;
        best = i;
      }
    }
    if (best < 0) return symbols;
    const first = symbols[best]!;
    const second = symbols[best + 1]!;
    const merged: string[] = symbols.slice(0, best);
    for (let i = best; i < symbols.length; ) {
      if (symbols[i] === first && i + 1 < symbols.length && symbols[i + 1] === second) {
        merged.push(first + second);
        i += 2;
      } else {
        merged.push(symbols[i]!);
        i += 1;
      }
    }
    symbols = merged;
    if (symbols.length === 1) return symbols;
  }
}
