/** Token bucket rate: `perSecond` sustained, `burst` at once. */
export interface RateSpec {
  perSecond: number;
  burst: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * One token bucket per key (device id, vendor, ...). Buckets refill lazily on use, so an idle key costs no timer;
 * `sweep` forgets full buckets so the map does not grow with every device ever seen.
 */
export class KeyedTokenBuckets {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly spec: RateSpec,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Takes one token for `key`; false when the key is over its rate. */
  take(key: string, cost = 1): boolean {
    const now = this.clock();
    let b = this.buckets.get(key);
    if (!b) {
      b = { tokens: this.spec.burst, at: now };
      this.buckets.set(key, b);
    } else {
      const refill = ((now - b.at) / 1000) * this.spec.perSecond;
      b.tokens = Math.min(this.spec.burst, b.tokens + refill);
      b.at = now;
    }
    if (b.tokens < cost) return false;
    b.tokens -= cost;
    return true;
  }

  /** Gives back a token taken by `take` when a later check refused the message anyway. */
  refund(key: string, cost = 1): void {
    const b = this.buckets.get(key);
    if (b) b.tokens = Math.min(this.spec.burst, b.tokens + cost);
  }

  sweep(): void {
    const now = this.clock();
    for (const [key, b] of this.buckets) {
      if (b.tokens + ((now - b.at) / 1000) * this.spec.perSecond >= this.spec.burst) this.buckets.delete(key);
    }
  }

  get size(): number {
    return this.buckets.size;
  }
}
