import { describe, expect, it } from 'vitest';
import type { DeliveryRecord, DeliveryState } from '../state/types.js';
import { BUSY_RETRY_MS, DEFAULT_TIMINGS, onCommandRejected, onDeadline, onDoorState, onObstruction, startClose } from './delivery-steps.js';

const t = DEFAULT_TIMINGS;
function delivery(state: DeliveryState, patch: Partial<DeliveryRecord> = {}): DeliveryRecord {
  return {
    id: 'd-1',
    customerId: 'c',
    deviceId: 'garage-1',
    courierId: 'k',
    windowStart: 0,
    windowEnd: 10_000_000,
    parcelRef: null,
    state,
    grantId: 'g-1',
    commandId: null,
    closeAttempts: 0,
    failureReason: null,
    deadline: null,
    outbox: [],
    version: 3,
    createdAt: 0,
    updatedAt: 0,
    timeline: [],
    ...patch,
  };
}

describe('the delivery workflow', () => {
  it('moves to door-open when the door opens while unlocking, or opened by keypad before any unlock', () => {
    for (const state of ['unlocking', 'courier-arrived', 'access-granted'] as const) {
      const step = onDoorState(delivery(state), 'open', 1000, t);
      expect(step?.next).toMatchObject({ state: 'door-open', version: 4, deadline: 1000 + t.leftOpenMs });
      expect(step?.effect).toEqual({ kind: 'none' });
    }
  });

  it('completes when the door closes after it was open, and ignores door changes that do not apply', () => {
    for (const state of ['door-open', 'package-placed', 'closing'] as const) {
      expect(onDoorState(delivery(state), 'closed', 5, t)).toMatchObject({ next: { state: 'completed', deadline: null }, emit: 'DeliveryCompleted' });
    }
    expect(onDoorState(delivery('scheduled'), 'open', 5, t)).toBeUndefined();
    expect(onDoorState(delivery('completed'), 'closed', 5, t)).toBeUndefined();
    expect(onDoorState(delivery('unlocking'), 'opening', 5, t)).toBeUndefined();
  });

  it('closes with a command after the package is placed, counting the attempt', () => {
    const step = startClose(delivery('package-placed'), 100, t, 'closing');
    expect(step).toMatchObject({ next: { state: 'closing', closeAttempts: 1, deadline: 100 + t.closeTimeoutMs }, effect: { kind: 'command', action: 'close' } });
  });

  it('retries the close once after an obstruction, then fails with obstruction and escalates', () => {
    const once = onObstruction(delivery('closing', { closeAttempts: 1 }), 10, t);
    // Time for the doorway to clear first: an immediate close would meet the beam still broken.
    expect(once).toMatchObject({ next: { state: 'closing', closeAttempts: 1, deadline: 10 + t.obstructedRetryMs }, effect: { kind: 'none' } });
    const again = onDeadline(once!.next, 10 + t.obstructedRetryMs, t);
    expect(again).toMatchObject({ next: { state: 'closing', closeAttempts: 2 }, effect: { kind: 'command', action: 'close' } });
    expect(again!.next.timeline.at(-1)?.step).toBe('obstruction: closing again after the warning');
    const twice = onObstruction(delivery('closing', { closeAttempts: 2 }), 20, t);
    expect(twice).toMatchObject({ next: { state: 'failed', failureReason: 'obstruction' }, emit: 'DeliveryFailed', effect: { kind: 'none' } });
    expect(onObstruction(delivery('door-open'), 20, t)).toBeUndefined();
  });

  it('fails with door-failed-to-open when the door does not open before the deadline or the device refuses', () => {
    expect(onDeadline(delivery('unlocking', { deadline: 50 }), 49, t)).toBeUndefined();
    expect(onDeadline(delivery('unlocking', { deadline: 50 }), 50, t)).toMatchObject({ next: { state: 'failed', failureReason: 'door-failed-to-open' } });
    expect(onCommandRejected(delivery('unlocking', { commandId: 'c-1' }), 'c-1', 'grant-invalid', 5, t)).toMatchObject({ next: { failureReason: 'door-failed-to-open' } });
    expect(onCommandRejected(delivery('unlocking', { commandId: 'c-1' }), 'c-other', 'grant-invalid', 5, t)).toBeUndefined();
  });

  it('sends the close again shortly, without counting an attempt, when the device is still busy with its last movement', () => {
    const busy = onCommandRejected(delivery('closing', { commandId: 'd-1-close-v3', closeAttempts: 2 }), 'd-1-close-v3', 'door-busy', 100, t);
    expect(busy).toMatchObject({ next: { state: 'closing', closeAttempts: 1, busyRetries: 1, deadline: 100 + BUSY_RETRY_MS }, effect: { kind: 'none' } });
    const again = onDeadline(busy!.next, 100 + BUSY_RETRY_MS, t);
    expect(again).toMatchObject({ next: { closeAttempts: 2, commandId: 'd-1-close-v5' }, effect: { kind: 'command', action: 'close' } });
    expect(onCommandRejected(delivery('closing', { commandId: 'x', busyRetries: 10 }), 'x', 'door-busy', 1, t)).toMatchObject({ next: { failureReason: 'door-failed-to-close' } });
    expect(onCommandRejected(delivery('closing', { commandId: 'x', closeAttempts: 2 }), 'x', 'obstruction', 1, t)).toMatchObject({ next: { failureReason: 'obstruction' } });
  });

  it('waits for the doorway to clear when a close is refused for a broken beam, closes again once, then fails with obstruction', () => {
    const refused = onCommandRejected(delivery('closing', { commandId: 'd-1-close-v3', closeAttempts: 1 }), 'd-1-close-v3', 'obstruction', 100, t);
    expect(refused).toMatchObject({ next: { state: 'closing', closeAttempts: 1, deadline: 100 + t.obstructedRetryMs }, effect: { kind: 'none' } });
    expect(onDeadline(refused!.next, 100 + t.obstructedRetryMs - 1, t)).toBeUndefined();
    const again = onDeadline(refused!.next, 100 + t.obstructedRetryMs, t);
    expect(again).toMatchObject({ next: { state: 'closing', closeAttempts: 2, commandId: 'd-1-close-v5' }, effect: { kind: 'command', action: 'close' } });
    expect(again!.next.timeline.map((e) => e.step)).toEqual(['close refused, beam broken: closing again shortly', 'obstruction: closing again after the warning']);
    const twice = onCommandRejected(again!.next, 'd-1-close-v5', 'obstruction', 200 + t.obstructedRetryMs, t);
    expect(twice).toMatchObject({ next: { state: 'failed', failureReason: 'obstruction' }, emit: 'DeliveryFailed' });
  });

  it('closes a door left open after the warning, retries a close that did not finish once, then fails with door-failed-to-close', () => {
    expect(onDeadline(delivery('door-open', { deadline: 10 }), 10, t)).toMatchObject({ next: { state: 'closing', closeAttempts: 1 }, effect: { action: 'close' } });
    expect(onDeadline(delivery('closing', { deadline: 10, closeAttempts: 1 }), 11, t)).toMatchObject({ next: { state: 'closing', closeAttempts: 2 }, effect: { action: 'close' } });
    expect(onDeadline(delivery('closing', { deadline: 10, closeAttempts: 2 }), 11, t)).toMatchObject({ next: { state: 'failed', failureReason: 'door-failed-to-close' }, emit: 'DeliveryFailed' });
  });
});
