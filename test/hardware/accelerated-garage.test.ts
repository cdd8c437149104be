import { DoorController } from '@keyway/agent/door';
import { acceleratedClock, createSimulatedGarage } from '@keyway/hardware-sim';
import { describe, expect, it } from 'vitest';

describe('time acceleration', () => {
  it('when the clock runs 100x, a 12 s door travel after a 5 s warning completes in about 0.2 s of real time', async () => {
    const clock = acceleratedClock(100);
    const garage = createSimulatedGarage({ travelMs: 12_000, clock, position: 1 });
    // Timeouts at their allowed maximums: at 100x the defaults leave only tens of real ms of slack.
    const door = new DoorController({ io: garage.openIo(), clock, config: { startTimeoutMs: 30_000, travelTimeoutMs: 120_000 } });
    await door.start();
    const realStart = performance.now();
    const virtualStart = clock.now();
    const result = await door.close({ kind: 'auto-close' });
    const realMs = performance.now() - realStart;
    expect(result).toMatchObject({ outcome: 'completed', state: 'closed', presses: 1 });
    // Warning (5 s) + pulse + 12 s travel in virtual time...
    expect(clock.now() - virtualStart).toBeGreaterThanOrEqual(17_000);
    // ...but well under a second of wall time.
    expect(realMs).toBeLessThan(2000);
    await door.stop();
    await garage.dispose();
  });
});
