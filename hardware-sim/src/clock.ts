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
export function acceleratedClock(factor: number, base?: Clock): Clock {
  if (!(factor > 0)) throw new RangeError('acceleratedClock: factor must be > 0');
  // Sub-millisecond real time: at 1000x a 1 ms step of Date.now() would be a 1 s jump, and
  // timers would fire "before" their virtual due time.
  const realNow = base ? () => base.now() : () => performance.now();
  const timers = base ?? systemClock;
  const realStart = realNow();
  const virtualStart = base ? base.now() : Date.now();
  return {
    now: () => virtualStart + (realNow() - realStart) * factor,
    // Node truncates fractional delays; round up so a timer is never due before its virtual time.
    setTimeout: (fn, ms) => timers.setTimeout(fn, Math.max(0, Math.ceil(ms / factor))),
    clearTimeout: (handle) => timers.clearTimeout(handle),
  };
}
