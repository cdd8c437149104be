import { describe, expect, it } from 'vitest';
import type { GpioBinding } from '../types.js';

/**
 * One behaviour suite every GPIO binding must pass unchanged (sim, gpiod; onoff needs real
 * sysfs). The harness reaches "the other side of the pin" for each implementation.
 */
export interface BindingHarness {
  binding: GpioBinding;
  outputLevel(pin: number): Promise<0 | 1 | undefined>;
  presetInput(pin: number, level: 0 | 1): Promise<void>;
  driveInput(pin: number, level: 0 | 1): Promise<void>;
  dispose(): Promise<void>;
}

async function eventually<T>(read: () => Promise<T> | T, expected: T, timeoutMs = 2000): Promise<void> {
  const start = Date.now();
  let last = await read();
  while (last !== expected && Date.now() - start < timeoutMs) {
    await new Promise((r) => setTimeout(r, 10));
    last = await read();
  }
  expect(last).toBe(expected);
}

export function describeGpioBindingContract(name: string, make: () => Promise<BindingHarness>): void {
  describe(`GPIO binding contract: ${name}`, () => {
    it('an active-high output starts low and goes high when written active', async () => {
      const h = await make();
      const out = await h.binding.openOutput({ name: 'relay', pin: 17 });
      await eventually(() => h.outputLevel(17), 0);
      expect(out.active).toBe(false);
      await out.write(true);
      await eventually(() => h.outputLevel(17), 1);
      expect(out.active).toBe(true);
      await out.write(false);
      await eventually(() => h.outputLevel(17), 0);
      await h.dispose();
    });

    it('an active-low output starts high (released) and goes low when written active', async () => {
      const h = await make();
      const out = await h.binding.openOutput({ name: 'relay', pin: 5, activeLow: true });
      await eventually(() => h.outputLevel(5), 1);
      await out.write(true);
      await eventually(() => h.outputLevel(5), 0);
      await h.dispose();
    });

    it('an input reports its level through activeLow and notifies each edge', async () => {
      const h = await make();
      await h.presetInput(22, 0);
      const input = await h.binding.openInput({ name: 'closed-switch', pin: 22, activeLow: true });
      expect(input.read()).toBe(true);
      const seen: boolean[] = [];
      const off = input.onChange((v) => seen.push(v));
      await h.driveInput(22, 1);
      await eventually(() => seen.length, 1);
      expect(seen).toEqual([false]);
      expect(input.read()).toBe(false);
      off();
      await h.driveInput(22, 0);
      await eventually(() => input.read(), true);
      expect(seen).toEqual([false]);
      await h.dispose();
    });
  });
}
