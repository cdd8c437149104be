import { describe, expect, it } from 'vitest';
import { LogThrottle } from './log-throttle.js';

describe('LogThrottle', () => {
  it('admits the first line of a key, then one per period with the count left out, each key on its own', () => {
    let now = 0;
    const throttle = new LogThrottle(() => now, 60_000);
    expect(throttle.admit('a')).toBe(0);
    expect(throttle.admit('a')).toBeUndefined();
    expect(throttle.admit('a')).toBeUndefined();
    expect(throttle.admit('b')).toBe(0);
    now = 60_000;
    expect(throttle.admit('a')).toBe(2);
    expect(throttle.admit('a')).toBeUndefined();
  });

  it('forgets old keys instead of growing past its limit', () => {
    let now = 0;
    const throttle = new LogThrottle(() => now, 1_000, 3);
    for (const k of ['a', 'b', 'c']) throttle.admit(k);
    now = 5_000;
    expect(throttle.admit('d')).toBe(0);
    // 'a' was forgotten, so it is admitted as new (nothing counted as left out).
    expect(throttle.admit('a')).toBe(0);
  });
});
