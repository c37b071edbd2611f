/**
 * Remembers message ids for a window, so that a captured request cannot be replayed while its bearer token
 * is still valid. Bounded: the oldest ids are forgotten first when the map is full. Time is passed in.
 */

export class ReplayGuard {
  private readonly seen = new Map<string, number>();

  /** @param windowMs how long an id is remembered; make it at least the token lifetime. */
  constructor(
    private readonly windowMs: number,
    private readonly maxEntries = 100_000,
  ) {}

  /** True the first time an id is presented within the window (and records it); false for a replay. */
  admit(id: string, nowMs: number): boolean {
    this.expire(nowMs);
    const until = this.seen.get(id);
    if (until !== undefined && until > nowMs) return false;
    this.seen.delete(id);
    this.seen.set(id, nowMs + this.windowMs);
    while (this.seen.size > this.maxEntries) {
      const oldest = this.seen.keys().next().value;
      if (oldest === undefined) break;
      this.seen.delete(oldest);
    }
    return true;
  }

  get size(): number {
    return this.seen.size;
  }

  private expire(nowMs: number): void {
    // Insertion order is expiry order (same window for all), so stop at the first live entry.
    for (const [id, until] of this.seen) {
      if (until > nowMs) break;
      this.seen.delete(id);
    }
  }
}
