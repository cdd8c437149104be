/**
 * Says whether a repeated log line (per key: a device and a reason) should be written now: the first at once, then at
 * most one per `everyMs`, carrying how many were left out in between. A device flooding the gateway with messages it
 * drops must not also flood the log (100,000 dropped publishes wrote 16.7 MB).
 */
export class LogThrottle {
  private readonly last = new Map<string, { at: number; skipped: number }>();

  constructor(
    private readonly clock: () => number,
    private readonly everyMs = 60_000,
    private readonly maxKeys = 10_000,
  ) {}

  /** undefined: leave this one out; a number: write it, saying that many were left out since the last. */
  admit(key: string): number | undefined {
    const now = this.clock();
    const seen = this.last.get(key);
    if (seen && now - seen.at < this.everyMs) {
      seen.skipped += 1;
      return undefined;
    }
    if (!seen && this.last.size >= this.maxKeys) this.forgetOlderThan(now - this.everyMs);
    this.last.set(key, { at: now, skipped: 0 });
    return seen?.skipped ?? 0;
  }

  private forgetOlderThan(cutoff: number): void {
    for (const [key, v] of this.last) if (v.at < cutoff) this.last.delete(key);
    // Still full (every key is recent): start over rather than grow without bound.
    if (this.last.size >= this.maxKeys) this.last.clear();
  }
}
