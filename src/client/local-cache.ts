/**
 * The in-memory tier (lru-cache) with a guard against a lost race: a read that started before an
 * invalidation of its key (this client's write, or another instance's message) must not put the
 * value it fetched into the cache afterwards, or the old value would live on for the whole TTL.
 */
import { LRUCache } from 'lru-cache';
import type { CacheEntry } from './envelope.js';

/** How many invalidated keys are remembered before the guard falls back to "anything older". */
const REMEMBERED = 10_000;

export class LocalCache {
  private readonly lru: LRUCache<string, CacheEntry>;
  private seq = 0;
  /** Reads that started at or before this sequence may not fill (after a clear or a prune). */
  private floor = 0;
  private readonly invalidatedAt = new Map<string, number>();

  constructor(opts: { max: number; ttlMs: number }) {
    this.lru = new LRUCache({
      max: opts.max,
      ttl: opts.ttlMs,
      // Expired entries stay until evicted, so stale-if-error has something to serve.
      noDeleteOnStaleGet: true,
      allowStale: false,
    });
  }

  get(key: string): CacheEntry | undefined {
    return this.lru.get(key);
  }

  /** The last value even when expired (stale-if-error). */
  getStale(key: string): CacheEntry | undefined {
    return this.lru.get(key, { allowStale: true });
  }

  /** A mark to pass to `set` once the read is done. */
  mark(): number {
    return ++this.seq;
  }

  /** Stores the value unless the key was invalidated since `mark`. */
  set(key: string, value: CacheEntry, mark: number): boolean {
    if (mark <= this.floor || (this.invalidatedAt.get(key) ?? 0) >= mark) return false;
    this.lru.set(key, value);
    return true;
  }

  delete(key: string): void {
    this.lru.delete(key);
    if (this.invalidatedAt.size >= REMEMBERED) {
      this.invalidatedAt.clear();
      this.floor = this.seq;
    }
    this.invalidatedAt.set(key, ++this.seq);
  }

  clear(): void {
    this.lru.clear();
    this.invalidatedAt.clear();
    this.floor = ++this.seq;
  }
}
