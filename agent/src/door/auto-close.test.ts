import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AutoCloser } from './auto-close.js';
import { createHarness, type Harness } from './test-support/harness.js';

const MINUTE = 60_000;

describe('auto-close policies', () => {
  let h: Harness;
  let auto: AutoCloser;
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(async () => {
    await auto.stop();
    await h.dispose();
    vi.useRealTimers();
  });

  const closes = () => h.timeline.flatMap((e) => (e.kind === 'state' && e.event.state === 'closing' ? [e.event] : []));

  it('when the door has stood open for N minutes, it closes with a warning first, attributed to auto-close', async () => {
    h = await createHarness({ position: 1 });
    auto = new AutoCloser(h.door, { afterOpenMs: 10 * MINUTE });
    await auto.start();
    await vi.advanceTimersByTimeAsync(10 * MINUTE - 1000);
    expect(h.door.currentState).toBe('open');
    await vi.advanceTimersByTimeAsync(1000 + 7000);
    expect(h.door.currentState).toBe('closed');
    expect(closes()[0]?.cause).toEqual({ kind: 'auto-close' });
    const warnOn = h.timeline.find((e) => e.kind === 'warning' && e.active)!;
    const pulse = h.timeline.find((e) => e.kind === 'pulse')!;
    expect(pulse.at - warnOn.at).toBeGreaterThanOrEqual(5000);
  });

  it('when a delivery completes, the door closes after the delivery delay, attributed to the courier grant', async () => {
    h = await createHarness({ position: 1 });
    auto = new AutoCloser(h.door, { afterDeliveryMs: 30_000 });
    await auto.start();
    auto.deliveryCompleted({ grantId: 'g-1', holder: 'courier-9' });
    await vi.advanceTimersByTimeAsync(29_000);
    expect(h.door.currentState).toBe('open');
    await vi.advanceTimersByTimeAsync(8000);
    expect(h.door.currentState).toBe('closed');
    expect(closes()[0]?.cause).toEqual({ kind: 'auto-close', grantId: 'g-1', holder: 'courier-9' });
  });

  it('when held open, no automatic close happens until the hold ends', async () => {
    h = await createHarness({ position: 1 });
    auto = new AutoCloser(h.door, { afterOpenMs: MINUTE });
    await auto.start();
    auto.holdOpen(30 * MINUTE);
    await vi.advanceTimersByTimeAsync(29 * MINUTE);
    expect(h.door.currentState).toBe('open');
    expect(h.garage.door.relayPressCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(MINUTE + 8000);
    expect(h.door.currentState).toBe('closed');
  });

  it('when the beam is broken at the due time, it does not press and tries again later', async () => {
    h = await createHarness({ position: 1 });
    auto = new AutoCloser(h.door, { afterOpenMs: MINUTE, retryMs: MINUTE });
    await auto.start();
    h.garage.door.setObstruction(true);
    await vi.advanceTimersByTimeAsync(MINUTE + 1000);
    expect(h.garage.door.relayPressCount()).toBe(0);
    h.garage.door.setObstruction(false);
    await vi.advanceTimersByTimeAsync(MINUTE + 8000);
    expect(h.door.currentState).toBe('closed');
  });

  it('when the beam stops two unattended closes in a row, it leaves the door open until someone moves it', async () => {
    h = await createHarness({ position: 1 });
    auto = new AutoCloser(h.door, { afterOpenMs: MINUTE, retryMs: MINUTE });
    await auto.start();
    h.garage.door.setObstruction(true);
    await vi.advanceTimersByTimeAsync(2 * MINUTE + 1000);
    expect(auto.nextCloseAt).toBeNull();
    // Cleared later: no third try on its own.
    h.garage.door.setObstruction(false);
    await vi.advanceTimersByTimeAsync(10 * MINUTE);
    expect(h.garage.door.relayPressCount()).toBe(0);
    expect(h.door.currentState).toBe('open');
    // Someone closes and opens it by hand: the policy starts over.
    h.garage.door.pressWallButton();
    await vi.advanceTimersByTimeAsync(15_000);
    expect(h.door.currentState).toBe('closed');
    h.garage.door.pressWallButton();
    await vi.advanceTimersByTimeAsync(15_000);
    expect(h.door.currentState).toBe('open');
    await vi.advanceTimersByTimeAsync(MINUTE + 15_000);
    expect(h.door.currentState).toBe('closed');
  });

  it('when stopped, it leaves no timer that could close the door later', async () => {
    h = await createHarness({ position: 1 });
    auto = new AutoCloser(h.door, { afterOpenMs: MINUTE });
    await auto.start();
    await auto.stop();
    await vi.advanceTimersByTimeAsync(5 * MINUTE);
    expect(h.garage.door.relayPressCount()).toBe(0);
    expect(auto.nextCloseAt).toBeNull();
  });
});
