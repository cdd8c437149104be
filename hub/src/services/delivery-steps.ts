/**
 * The delivery workflow as pure transitions: given a delivery and what happened, the next record and what to do.
 * No I/O here, so every path is testable on its own and the service only carries the decisions out.
 */
import type { DeliveryRecord, DeliveryState } from '../state/types.js';

export type DeliveryFailure = 'device-offline' | 'grant-expired' | 'door-failed-to-open' | 'door-failed-to-close' | 'obstruction' | 'cancelled';

export const ACTIVE_STATES: ReadonlySet<DeliveryState> = new Set(['scheduled', 'access-granted', 'courier-arrived', 'unlocking', 'door-open', 'package-placed', 'closing']);

export interface WorkflowTimings {
  /** How long the door may take to open after the unlock command. Default 45 s. */
  openTimeoutMs: number;
  /** How long a close may take, warning period included. Default 60 s. */
  closeTimeoutMs: number;
  /** How long the door may stay open before the hub closes it (with warning). Default 10 min. */
  leftOpenMs: number;
  /** Close attempts before escalating to the customer (the first plus one retry). Default 2. */
  maxCloseAttempts: number;
  /**
   * How long to wait before closing again when the device refused a close because the beam was already broken (the
   * courier still in the doorway). Default 15 s.
   */
  obstructedRetryMs: number;
}

export const DEFAULT_TIMINGS: WorkflowTimings = { openTimeoutMs: 45_000, closeTimeoutMs: 60_000, leftOpenMs: 600_000, maxCloseAttempts: 2, obstructedRetryMs: 15_000 };

export type Effect = { kind: 'command'; action: 'open' | 'close' } | { kind: 'none' };

export interface Transition {
  next: DeliveryRecord;
  effect: Effect;
  /** The delivery event the step emits, by type; the service builds and publishes it. */
  emit?: 'DeliveryCompleted' | 'DeliveryFailed';
}

function step(d: DeliveryRecord, state: DeliveryState, at: number, name: string, patch: Partial<DeliveryRecord> = {}, detail?: Record<string, unknown>): DeliveryRecord {
  return {
    ...d,
    ...patch,
    state,
    version: d.version + 1,
    updatedAt: at,
    timeline: [...d.timeline, { at, step: name, ...(detail ? { detail } : {}) }],
  };
}

export function fail(d: DeliveryRecord, reason: DeliveryFailure, at: number, detail?: string): Transition {
  return {
    next: step(d, 'failed', at, `failed: ${reason}`, { failureReason: reason, deadline: null, commandId: null }, detail ? { detail } : undefined),
    effect: { kind: 'none' },
    emit: 'DeliveryFailed',
  };
}

/** The door reported a new state (from the device, possibly long after the fact when it was offline). */
export function onDoorState(d: DeliveryRecord, state: string, at: number, t: WorkflowTimings): Transition | undefined {
  if (state === 'open' && ['access-granted', 'courier-arrived', 'unlocking'].includes(d.state)) {
    return { next: step(d, 'door-open', at, 'door open', { deadline: at + t.leftOpenMs, commandId: null }), effect: { kind: 'none' } };
  }
  if (state === 'closed' && ['door-open', 'package-placed', 'closing'].includes(d.state)) {
    return { next: step(d, 'completed', at, 'completed', { deadline: null, commandId: null }), effect: { kind: 'none' }, emit: 'DeliveryCompleted' };
  }
  return undefined;
}

/**
 * The door reversed on an obstruction while closing: close again once (with warning) after obstructedRetryMs, time
 * for whoever broke the beam to step out of the doorway (an immediate retry would meet the beam still broken and
 * spend the last attempt); then escalate.
 */
export function onObstruction(d: DeliveryRecord, at: number, t: WorkflowTimings): Transition | undefined {
  if (d.state !== 'closing') return undefined;
  if (d.closeAttempts >= t.maxCloseAttempts) return fail(d, 'obstruction', at, 'the beam was broken on every close attempt');
  return { next: step(d, 'closing', at, REVERSED_WAIT_STEP, { deadline: at + t.obstructedRetryMs, commandId: null }), effect: { kind: 'none' } };
}

const OBSTRUCTED_WAIT_STEP = 'close refused, beam broken: closing again shortly';
const REVERSED_WAIT_STEP = 'obstruction: the door reversed; closing again shortly';

/** How long to wait before closing again when the device was still busy finishing its last command. */
export const BUSY_RETRY_MS = 2000;
const MAX_BUSY_RETRIES = 10;

export function onCommandRejected(d: DeliveryRecord, commandId: string, reason: string, at: number, t: WorkflowTimings): Transition | undefined {
  if (d.commandId !== commandId) return undefined;
  if (d.state === 'closing' && reason === 'obstruction' && d.closeAttempts < t.maxCloseAttempts) {
    // The beam was broken before the door moved (nothing reversed, so no ObstructionDetected while closing): this
    // attempt counts, and the next one comes once the doorway has had time to clear.
    return { next: step(d, 'closing', at, OBSTRUCTED_WAIT_STEP, { deadline: at + t.obstructedRetryMs }), effect: { kind: 'none' } };
  }
  if (d.state === 'closing' && reason === 'door-busy' && (d.busyRetries ?? 0) < MAX_BUSY_RETRIES) {
    // The door is still settling from its last movement (e.g. reversing after an obstruction): not an attempt.
    return {
      next: step(d, 'closing', at, 'door busy: closing again shortly', { busyRetries: (d.busyRetries ?? 0) + 1, closeAttempts: d.closeAttempts - 1, deadline: at + BUSY_RETRY_MS }),
      effect: { kind: 'none' },
    };
  }
  if (d.state === 'unlocking') return fail(d, 'door-failed-to-open', at, `the device refused the open command: ${reason}`);
  if (d.state === 'closing') return fail(d, reason === 'obstruction' ? 'obstruction' : 'door-failed-to-close', at, `the device refused the close command: ${reason}`);
  return undefined;
}

function closeAgain(d: DeliveryRecord, at: number, t: WorkflowTimings, name: string): Transition {
  return {
    // Deterministic and unique per step, so a late rejection of this very command is recognised.
    next: step(d, 'closing', at, name, { closeAttempts: d.closeAttempts + 1, deadline: at + t.closeTimeoutMs, commandId: `${d.id}-close-v${d.version + 1}` }),
    effect: { kind: 'command', action: 'close' },
  };
}

export function startClose(d: DeliveryRecord, at: number, t: WorkflowTimings, name: string): Transition {
  return closeAgain(d, at, t, name);
}

/** A step's deadline passed (checked by the sweeper, so it holds across hub restarts). */
export function onDeadline(d: DeliveryRecord, at: number, t: WorkflowTimings): Transition | undefined {
  if (d.deadline === null || at < d.deadline) return undefined;
  switch (d.state) {
    case 'access-granted':
    case 'courier-arrived':
      return fail(d, 'grant-expired', at, 'the delivery window ended before the door was opened');
    case 'unlocking':
      return fail(d, 'door-failed-to-open', at, 'the door did not open in time');
    case 'door-open':
    case 'package-placed':
      return startClose(d, at, t, 'door left open: closing after the warning');
    case 'closing':
      if (d.closeAttempts >= t.maxCloseAttempts) return fail(d, 'door-failed-to-close', at, `the door did not close after ${d.closeAttempts} attempts`);
      if ([OBSTRUCTED_WAIT_STEP, REVERSED_WAIT_STEP].includes(d.timeline[d.timeline.length - 1]?.step ?? '')) return closeAgain(d, at, t, 'obstruction: closing again after the warning');
      return closeAgain(d, at, t, 'door did not close: closing again after the warning');
    default:
      return undefined;
  }
}

export { step as advance };
