// The pipeline's image-prompt cache (DESIGN.md §5). The image prompt's rows of the denoising batch
// depend only on its inversion chain, the inversion-prompt embedding, the timestep and the model,
// so per key (image content, inversion prompt, steps, size, which P rows, ControlNet or not) an
// entry keeps the inversion chain and, per denoising step, P's decoder self-attention K/V
// (ImagePromptKVCache). A call that finds an entry skips the VAE encode and the inversion, and
// leaves P's rows out of the batch at every step the entry holds. Entries live in an LRU bounded
// by a byte budget; steps are recorded lazily (one at a time, while there is room), so an entry
// too large for the budget still caches its first steps.
import type { ImagePromptKVCache } from '../models/unet.js';
import type { Tensor } from '../tensor.js';

export interface KVCacheStats {
  enabled: boolean;
  /** Byte budget of all entries together. */
  budget: number;
  /** Bytes held now (inversion chains and K/V tensors, on the engine's device). */
  bytes: number;
  entries: number;
  /** Calls that found an entry / did not. */
  hits: number;
  misses: number;
  evictions: number;
  /** Denoising steps run without the image prompt's rows (K/V read from the cache). */
  reusedSteps: number;
  /** Denoising steps whose K/V were recorded. */
  recordedSteps: number;
}

/** What one call did with the cache. */
export interface KVCacheUse {
  /** off: disabled or not applicable; miss: no entry (one is recorded when the budget allows); hit: an entry was found. */
  status: 'off' | 'miss' | 'hit';
  /** Steps whose image-prompt K/V came from the cache. */
  reusedSteps: number;
  /** Steps whose image-prompt K/V this call recorded. */
  recordedSteps: number;
  /** Bytes of the entry after the call (0 when none). */
  entryBytes: number;
}

/** @internal One key's inversion chain and recorded K/V. */
export class CacheEntry {
  pins = 0;
  dead = false;
  readonly chainBytes: number;
  constructor(
    readonly key: string,
    /** z_T .. z_0 (steps + 1 latents, most noisy first). */
    readonly chain: Tensor[],
    readonly kv: ImagePromptKVCache,
  ) {
    this.chainBytes = chain.reduce((s, t) => s + t.byteLength, 0);
  }
  get bytes(): number {
    return this.chainBytes + this.kv.bytes;
  }
  dispose(): void {
    for (const t of this.chain) t.dispose();
    this.kv.dispose();
  }
}

/** @internal */
export class ImagePromptCache {
  private readonly entries = new Map<string, CacheEntry>(); // least recently used first
  private readonly counters = { hits: 0, misses: 0, evictions: 0, reusedSteps: 0, recordedSteps: 0 };

  constructor(readonly budget: number) {}

  /** The entry for `key`, pinned (release it when the call ends) and made most recent. */
  acquire(key: string): CacheEntry | undefined {
    const e = this.entries.get(key);
    if (!e) {
      this.counters.misses++;
      return undefined;
    }
    this.counters.hits++;
    this.entries.delete(key);
    this.entries.set(key, e);
    e.pins++;
    return e;
  }

  /**
   * Adds a new entry holding `chain` (taken over) and `kv`, pinned, after evicting what its chain
   * needs; undefined (nothing taken) when the chain alone does not fit the budget.
   */
  add(key: string, chain: Tensor[], kv: ImagePromptKVCache): CacheEntry | undefined {
    const e = new CacheEntry(key, chain, kv);
    if (!this.makeRoom(e.chainBytes, undefined)) return undefined;
    const old = this.entries.get(key);
    if (old) this.drop(old);
    e.pins = 1;
    this.entries.set(key, e);
    return e;
  }

  /** Makes room for `bytes` more in `entry` (evicting least recently used unpinned entries); false if impossible. */
  reserve(entry: CacheEntry, bytes: number): boolean {
    return !entry.dead && this.makeRoom(bytes, entry);
  }

  release(entry: CacheEntry): void {
    entry.pins--;
    if (entry.pins <= 0 && entry.dead) entry.dispose();
  }

  countSteps(reused: number, recorded: number): void {
    this.counters.reusedSteps += reused;
    this.counters.recordedSteps += recorded;
  }

  get bytes(): number {
    let b = 0;
    for (const e of this.entries.values()) b += e.bytes;
    return b;
  }

  stats(): KVCacheStats {
    return { enabled: true, budget: this.budget, bytes: this.bytes, entries: this.entries.size, ...this.counters };
  }

  /** Drops every entry (entries in use by a running call are freed when it ends). */
  clear(): void {
    for (const e of [...this.entries.values()]) this.drop(e);
  }

  private makeRoom(bytes: number, keep: CacheEntry | undefined): boolean {
    if (bytes > this.budget) return false;
    let used = this.bytes;
    for (const e of [...this.entries.values()]) {
      if (used + bytes <= this.budget) break;
      if (e === keep || e.pins > 0) continue;
      used -= e.bytes;
      this.drop(e);
      this.counters.evictions++;
    }
    return used + bytes <= this.budget;
  }

  private drop(e: CacheEntry): void {
    this.entries.delete(e.key);
    e.dead = true;
    if (e.pins <= 0) e.dispose();
  }
}

export const GiB = 1024 ** 3;

/** Default budget: a few GB on a GPU (a quarter of its memory at most), less on the CPU (an eighth of RAM at most). */
export function defaultKVCacheBudget(device: 'cpu' | 'cuda', memoryBytes: number): number {
  return device === 'cuda' ? Math.min(4 * GiB, memoryBytes / 4) : Math.min(3 * GiB, memoryBytes / 8);
}
