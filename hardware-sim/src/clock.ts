import { systemClock, type Clock } from '@keyway/shared';

export { systemClock, type Clock, type TimerHandle } from '@keyway/shared';

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
