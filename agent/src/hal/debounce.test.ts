import { SimGpioBinding, SimGpioChip } from '@keyway/hardware-sim';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from './clock.js';
import { DebouncedInput } from './debounce.js';

describe('debounced input', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  function setup(ms: number) {
    const chip = new SimGpioChip();
    const raw = new SimGpioBinding(chip).openInputSync({ name: 'beam', pin: 24 });
    const input = new DebouncedInput(raw, ms, systemClock);
    input.start();
    const seen: boolean[] = [];
    input.onChange((v) => seen.push(v));
    return { chip, input, seen };
  }

  it('when the line blips for less than the debounce time, nothing is reported', async () => {
    const { chip, input, seen } = setup(100);
    for (let i = 0; i < 10; i++) {
      chip.drive(24, 1);
      await vi.advanceTimersByTimeAsync(30);
      chip.drive(24, 0);
      await vi.advanceTimersByTimeAsync(30);
    }
    expect(seen).toEqual([]);
    expect(input.read()).toBe(false);
  });

  it('when the line holds a new level for the debounce time, it is reported once', async () => {
    const { chip, input, seen } = setup(100);
    chip.drive(24, 1);
    await vi.advanceTimersByTimeAsync(99);
    expect(seen).toEqual([]);
    await vi.advanceTimersByTimeAsync(2);
    expect(seen).toEqual([true]);
    expect(input.read()).toBe(true);
  });

  it('when closed, it reports nothing more and leaves no timer', async () => {
    const { chip, input, seen } = setup(100);
    chip.drive(24, 1);
    await input.close();
    await vi.advanceTimersByTimeAsync(500);
    expect(seen).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
    expect(chip.listenerCount()).toBe(0);
  });
});
