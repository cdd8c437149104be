/**
 * Time source shared by the simulator and the door controller. Structurally identical to the
 * agent's `Clock` (agent/src/hal/clock.ts) so one object can drive both sides of a test.
 */
/** Whatever the clock's setTimeout returns; only ever handed back to its clearTimeout. */
export type TimerHandle = object | number;

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/**
 * Wall-clock time. Looks the timer functions up on every call (not at import) so vitest fake
 * timers installed after import still take effect.
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof globalThis.setTimeout>),
};

/**
 * A clock that runs `factor` times faster than the wall clock: a 12 s door travel takes
 * 12 ms at factor 1000. Simulator and controller must share the same instance.
 */
export function acceleratedClock(factor: number, base: Clock = systemClock): Clock {
  if (!(factor > 0)) throw new RangeError('acceleratedClock: factor must be > 0');
  const realStart = base.now();
  const virtualStart = realStart;
  return {
    now: () => virtualStart + (base.now() - realStart) * factor,
    setTimeout: (fn, ms) => base.setTimeout(fn, Math.max(0, ms / factor)),
    clearTimeout: (handle) => base.clearTimeout(handle),
  };
}
