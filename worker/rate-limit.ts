/**
 * Fixed-window counters kept in the object's memory. They reset if the object is evicted, which
 * only happens after it has been idle, that is, after the caller has stopped hammering it.
 */
export class RateLimiter {
  readonly #windows = new Map<string, { start: number; count: number }>();

  constructor(
    readonly limit: number,
    readonly windowMs = 60_000,
    readonly maxKeys = 10_000,
  ) {}

  /** Counts one hit; returns seconds to wait when over the limit, or 0. */
  hit(key: string, now: number): number {
    let w = this.#windows.get(key);
    if (!w || now - w.start >= this.windowMs) {
      this.#windows.delete(key);
      if (this.#windows.size >= this.maxKeys) this.#evict(now);
      w = { start: now, count: 0 };
      this.#windows.set(key, w);
    }
    w.count += 1;
    if (w.count <= this.limit) return 0;
    return Math.max(1, Math.ceil((w.start + this.windowMs - now) / 1000));
  }

  #evict(now: number): void {
    for (const [key, w] of this.#windows) {
      if (now - w.start >= this.windowMs) this.#windows.delete(key);
    }
    // Still full: forget the oldest windows (insertion order) rather than grow without bound.
    const excess = this.#windows.size - Math.floor(this.maxKeys * 0.9);
    if (excess > 0) {
      let n = 0;
      for (const key of this.#windows.keys()) {
        if (n++ >= excess) break;
        this.#windows.delete(key);
      }
    }
  }
}
