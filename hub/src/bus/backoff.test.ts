import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fullJitterDelay } from './backoff.js';

describe('fullJitterDelay', () => {
  it('stays within [0, min(cap, base * 2^(attempt-1))] for any attempt and random draw', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 200 }), fc.double({ min: 0, max: 0.999999, noNaN: true }), (attempt, r) => {
        const d = fullJitterDelay(attempt, 100, 60_000, () => r);
        return d >= 0 && d <= Math.min(60_000, 100 * 2 ** (attempt - 1));
      }),
    );
  });

  it('grows the ceiling exponentially until the cap', () => {
    const top = (attempt: number) => fullJitterDelay(attempt, 100, 1000, () => 0.999999);
    expect([1, 2, 3, 4, 5, 20].map(top)).toEqual([99, 199, 399, 799, 999, 999]);
  });
});
