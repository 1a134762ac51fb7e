// A bounded map for per-word BPE results. Prompts reuse a small vocabulary of words, so a cache
// makes repeated encodes mostly lookups; the bound keeps a long-running process from growing
// without limit (the oldest entry goes first when it is full).

export interface WordCacheStats {
  /** Entries held now. */
  size: number;
  /** Most entries held at once. */
  capacity: number;
  hits: number;
  misses: number;
}

export class WordCache<V> {
  private readonly map = new Map<string, V>();
  private hits = 0;
  private misses = 0;

  constructor(readonly capacity: number) {}

  get(key: string): V | undefined {
    const v = this.map.get(key);
    if (v === undefined) this.misses++;
    else this.hits++;
    return v;
  }

  set(key: string, value: V): void {
    if (this.capacity <= 0) return;
    if (this.map.size >= this.capacity) {
      const oldest = this.map.keys().next().value as string;
      this.map.delete(oldest);
    }
    this.map.set(key, value);
  }

  clear(): void {
    this.map.clear();
    this.hits = 0;
    this.misses = 0;
  }

  stats(): WordCacheStats {
    return { size: this.map.size, capacity: this.capacity, hits: this.hits, misses: this.misses };
  }
}
