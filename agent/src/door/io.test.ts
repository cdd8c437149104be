import { createSimulatedGarage } from '@keyway/hardware-sim';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createGpioBinding } from '../hal/select-binding.js';
import { DoorController } from './controller.js';
import { openDoorIo } from './io.js';

describe('door lines from a configured binding', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('when the config names the simulator, the controller runs on lines opened through the binding interface', async () => {
    const garage = createSimulatedGarage({ travelMs: 1000, relayActiveLow: true, sensorsActiveLow: true });
    const binding = createGpioBinding({ kind: 'sim', binding: garage.binding });
    const p = garage.pins;
    const io = await openDoorIo(binding, {
      relay: { pin: p.relay, activeLow: true },
      warning: { pin: p.warning },
      closedSwitch: { pin: p.closedSwitch, activeLow: true },
      openSwitch: { pin: p.openSwitch, activeLow: true },
      beam: { pin: p.beam, activeLow: true },
    });
    // Active-low relay board: released means the line is high.
    expect(garage.chip.level(p.relay)).toBe(1);
    const door = new DoorController({ io, config: { pressGapMs: 200, travelTimeoutMs: 3000 } });
    await door.start();
    expect(door.currentState).toBe('closed');
    const opening = door.open({ kind: 'command', commandId: 'c' });
    await vi.advanceTimersByTimeAsync(3000);
    expect(await opening).toMatchObject({ outcome: 'completed', state: 'open', presses: 1 });
    expect(garage.chip.level(p.relay)).toBe(1);
    await door.stop();
    await binding.close();
    await garage.dispose();
    expect(garage.chip.listenerCount()).toBe(0);
  });
});
