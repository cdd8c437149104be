import { randomUUID } from 'node:crypto';
import { ErrorCode, KeywayError, createLogger, describeError, type EventEnvelope, type Logger } from '@keyway/shared';
import { createEvent, type KeywayEvent, type Publisher } from '@keyway/shared/client';
import type { DeliveryRecord, DeliveryState, GrantRecord, HubStateStore } from '../state/types.js';
import type { AccessService } from './access.js';
import { ACTIVE_STATES, DEFAULT_TIMINGS, advance, fail, onCommandRejected, onDeadline, onDoorState, onObstruction, startClose, type Transition, type WorkflowTimings } from './delivery-steps.js';
import type { DeviceDownlink } from './downlink.js';
import { publishAll } from './publish.js';

const SOURCE = 'keyway://service/delivery';
/** States in which the door works for the delivery: its events reach it even without a matching cause. */
const STARTED_STATES: ReadonlySet<DeliveryState> = new Set(['unlocking', 'door-open', 'package-placed', 'closing']);

/** The command or grant a device event names as its cause. */
function causeOf(event: DeliveryDeviceEvent): { commandId?: string; grantId?: string } {
  if (event.type === 'keyway.device.CommandRejected') return { commandId: event.data.commandId };
  if (event.type === 'keyway.device.DoorStateChanged') {
    const cause = (event.data as { cause?: { commandId?: string; grantId?: string } }).cause;
    return { ...(cause?.commandId !== undefined ? { commandId: cause.commandId } : {}), ...(cause?.grantId !== undefined ? { grantId: cause.grantId } : {}) };
  }
  return {};
}
/** Longest delivery window: the courier's grant is valid for the whole window. */
const MAX_WINDOW_MS = 7 * 86_400_000;

export interface DeliveryServiceOptions {
  state: HubStateStore;
  /** Publishes as the `delivery` account. */
  publisher: Publisher;
  access: AccessService;
  downlink: DeviceDownlink;
  timings?: Partial<WorkflowTimings>;
  /** How often deadlines are checked. Default 1 s. */
  sweepIntervalMs?: number;
  clock?: () => number;
  logger?: Logger;
}

export interface ScheduleInput {
  id?: string;
  customerId: string;
  deviceId: string;
  courierId: string;
  windowStart: number;
  windowEnd: number;
  parcelRef?: string;
  /** A keypad PIN for the courier, for when the garage is offline. */
  pin?: string;
}

export const DELIVERY_DEVICE_EVENT_TYPES = ['keyway.device.DoorStateChanged', 'keyway.device.ObstructionDetected', 'keyway.device.CommandRejected'] as const;
type DeviceEventType = (typeof DELIVERY_DEVICE_EVENT_TYPES)[number];
export type DeliveryDeviceEvent = { [T in DeviceEventType]: KeywayEvent<T> }[DeviceEventType];

/**
 * The delivery workflow: scheduled -> access granted -> courier arrived -> unlocking -> door open -> package placed ->
 * closing -> completed, and its failure paths. State is durable and advanced with compare-and-set, every step's events
 * sit in the record's outbox until the bus has them, and deadlines are swept from the store, so a hub restart
 * mid-delivery picks up where it left off.
 */
export class DeliveryService {
  private readonly clock: () => number;
  private readonly log: Logger;
  private readonly timings: WorkflowTimings;
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;

  constructor(private readonly options: DeliveryServiceOptions) {
    this.clock = options.clock ?? Date.now;
    this.log = options.logger ?? createLogger('service.delivery');
    this.timings = { ...DEFAULT_TIMINGS, ...options.timings };
  }

  async start(): Promise<void> {
    await this.flushOutboxes();
    this.sweepTimer = setInterval(() => {
      this.sweeping ??= this.sweep()
        .catch((error: unknown) => this.log.error({ err: error }, 'delivery sweep failed'))
        .finally(() => (this.sweeping = undefined));
    }, this.options.sweepIntervalMs ?? 1_000);
    this.sweepTimer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
    await this.sweeping;
  }

  async schedule(input: ScheduleInput): Promise<DeliveryRecord> {
    const device = await this.options.state.getDevice(input.deviceId);
    if (!device) throw new KeywayError(ErrorCode.UnknownDevice, `device ${input.deviceId} is not provisioned`, { details: { deviceId: input.deviceId } });
    if (!(input.windowEnd > input.windowStart)) throw new KeywayError(ErrorCode.InvalidInput, 'windowEnd must be after windowStart');
    const now = this.clock();
    // Checked before anything is stored: a refused grant after the insert left a delivery in `scheduled` for good.
    if (input.windowEnd <= now) throw new KeywayError(ErrorCode.InvalidInput, `the delivery window ended at ${new Date(input.windowEnd).toISOString()}; schedule a window that has not ended`);
    if (input.windowEnd - input.windowStart > MAX_WINDOW_MS) {
      throw new KeywayError(ErrorCode.InvalidInput, `a delivery window may last at most ${MAX_WINDOW_MS / 86_400_000} days; the courier's grant lasts as long as the window`);
    }
    const id = input.id ?? `d-${randomUUID()}`;
    if (await this.options.state.getDelivery(id)) throw new KeywayError(ErrorCode.Conflict, `delivery ${id} already exists`, { details: { deliveryId: id } });
    const scheduled: DeliveryRecord = {
      id,
      customerId: input.customerId,
      deviceId: input.deviceId,
      courierId: input.courierId,
      windowStart: input.windowStart,
      windowEnd: input.windowEnd,
      parcelRef: input.parcelRef ?? null,
      state: 'scheduled',
      grantId: null,
      commandId: null,
      closeAttempts: 0,
      failureReason: null,
      deadline: null,
      outbox: [],
      version: 1,
      createdAt: now,
      updatedAt: now,
      timeline: [{ at: now, step: 'scheduled' }],
    };
    const event = createEvent(
      'keyway.delivery.DeliveryScheduled',
      {
        deliveryId: id,
        customerId: input.customerId,
        deviceId: input.deviceId,
        courierId: input.courierId,
        windowStart: new Date(input.windowStart).toISOString(),
        windowEnd: new Date(input.windowEnd).toISOString(),
        ...(input.parcelRef ? { parcelRef: input.parcelRef } : {}),
      },
      { source: SOURCE, id: `${id}-1`, subject: input.deviceId },
    );
    await this.options.state.insertDelivery({ ...scheduled, outbox: [event] });
    await this.flush({ ...scheduled, outbox: [event] });
    let grant: GrantRecord;
    try {
      grant = await this.options.access.issueGrant({
        deviceId: input.deviceId,
        holder: input.courierId,
        deliveryId: id,
        validFrom: input.windowStart,
        validUntil: input.windowEnd,
        actions: ['open', 'close'],
        maxUses: 6,
        ...(input.pin ? { pin: input.pin } : {}),
      });
    } catch (error) {
      // Not left half-scheduled: the delivery fails, and the caller gets the grant's error.
      const stored = await this.mustGet(id);
      await this.commit(stored, fail(stored, 'cancelled', this.clock(), `the courier's grant could not be issued: ${describeError(error)}`)).catch(() => undefined);
      throw error;
    }
    const current = await this.mustGet(id);
    // The window's end is the deadline until the door opens: a courier who never comes fails the delivery then.
    return this.commit(current, { next: advance(current, 'access-granted', this.clock(), 'access granted', { grantId: grant.id, deadline: input.windowEnd }, { grantId: grant.id, hasPin: grant.hasPin }), effect: { kind: 'none' } });
  }

  async get(id: string): Promise<DeliveryRecord | undefined> {
    return this.options.state.getDelivery(id);
  }

  async list(filter: { deviceId?: string; state?: DeliveryState }, page: { limit: number; after?: string }): Promise<DeliveryRecord[]> {
    return this.options.state.listDeliveries(filter, page);
  }

  async courierArrived(id: string): Promise<DeliveryRecord> {
    const d = await this.expect(id, ['access-granted']);
    const now = this.clock();
    const arrived = createEvent('keyway.delivery.CourierArrived', { deliveryId: id, courierId: d.courierId, deviceId: d.deviceId, at: new Date(now).toISOString() }, this.eventOptions(d));
    if (!this.options.downlink.isOnline(d.deviceId)) {
      const grant = d.grantId ? await this.options.state.getGrant(d.grantId) : undefined;
      if (!grant?.hasPin) return this.commit(d, fail(d, 'device-offline', now, 'the garage is offline and the grant has no keypad PIN'), [arrived]);
      return this.commit(d, { next: advance(d, 'courier-arrived', now, 'courier arrived', {}, { deviceOnline: false, use: 'keypad PIN' }), effect: { kind: 'none' } }, [arrived]);
    }
    return this.commit(d, { next: advance(d, 'courier-arrived', now, 'courier arrived', {}, { deviceOnline: true }), effect: { kind: 'none' } }, [arrived]);
  }

  async unlock(id: string): Promise<DeliveryRecord> {
    const d = await this.expect(id, ['access-granted', 'courier-arrived']);
    const now = this.clock();
    if (now > d.windowEnd) return this.commit(d, fail(d, 'grant-expired', now, 'the delivery window has ended'));
    // The garage refuses a grant before its window: the open would fail and end the delivery.
    if (now < d.windowStart) {
      throw new KeywayError(ErrorCode.Conflict, `the delivery window opens at ${new Date(d.windowStart).toISOString()}; unlock then`, { details: { deliveryId: id, windowStart: d.windowStart } });
    }
    if (!this.options.downlink.isOnline(d.deviceId)) {
      // With a keypad PIN the courier can still open the offline garage: the delivery goes on, the unlock is refused.
      const grant = d.grantId ? await this.options.state.getGrant(d.grantId) : undefined;
      if (grant?.hasPin) {
        throw new KeywayError(ErrorCode.Conflict, 'the garage is offline and cannot be unlocked remotely; the courier can open it with the keypad PIN', { details: { deliveryId: id, deviceOnline: false } });
      }
      return this.commit(d, fail(d, 'device-offline', now, 'the garage is offline and the grant has no keypad PIN'));
    }
    const commandId = `c-${randomUUID()}`;
    const unlockRequested = createEvent('keyway.delivery.UnlockRequested', { deliveryId: id, deviceId: d.deviceId, grantId: d.grantId ?? '', commandId, at: new Date(now).toISOString() }, this.eventOptions(d));
    const t: Transition = { next: advance(d, 'unlocking', now, 'unlocking', { commandId, deadline: now + this.timings.openTimeoutMs }, { commandId }), effect: { kind: 'command', action: 'open' } };
    return this.commit(d, t, [unlockRequested]);
  }

  async packagePlaced(id: string): Promise<DeliveryRecord> {
    const d = await this.expect(id, ['door-open']);
    const now = this.clock();
    const placed = createEvent('keyway.delivery.PackagePlaced', { deliveryId: id, deviceId: d.deviceId, at: new Date(now).toISOString() }, this.eventOptions(d));
    const t = startClose(advance(d, 'package-placed', now, 'package placed'), now, this.timings, 'closing after the warning');
    return this.commit(d, t, [placed]);
  }

  /** Applies a device event to the device's active delivery; returns the delivery it moved, if any. */
  async onDeviceEvent(event: DeliveryDeviceEvent): Promise<DeliveryRecord | undefined> {
    const d = await this.deliveryFor(event);
    if (!d) return undefined;
    const at = Date.parse(event.data.at);
    let t: Transition | undefined;
    switch (event.type) {
      case 'keyway.device.DoorStateChanged':
        t = onDoorState(d, event.data.state, at, this.timings);
        break;
      case 'keyway.device.ObstructionDetected':
        t = event.data.during === 'closing' ? onObstruction(d, at, this.timings) : undefined;
        break;
      case 'keyway.device.CommandRejected':
        t = onCommandRejected(d, event.data.commandId, event.data.reason, at, this.timings);
        break;
    }
    return t ? this.commit(d, t) : undefined;
  }

  /** Advances every delivery whose deadline passed. */
  async sweep(): Promise<void> {
    const now = this.clock();
    for (const state of ['access-granted', 'courier-arrived', 'unlocking', 'door-open', 'package-placed', 'closing'] as const) {
      for (const d of await this.options.state.listDeliveries({ state }, { limit: 1000 })) {
        const t = onDeadline(d, now, this.timings);
        if (t) await this.commit(d, t).catch((error: unknown) => this.log.warn({ err: error, deliveryId: d.id }, 'deadline step lost a race; retried next sweep'));
      }
    }
  }

  /**
   * The delivery a device event belongs to: the one whose command or grant caused it; else the newest delivery the
   * door is already working for (unlocking or later). A delivery that has not started moves only on its own grant or
   * command: a wall-button open, or another delivery's, must not open (and then complete) it.
   */
  private async deliveryFor(event: DeliveryDeviceEvent): Promise<DeliveryRecord | undefined> {
    const all = await this.options.state.listDeliveries({ deviceId: event.data.deviceId }, { limit: 1000 });
    const active = all.filter((d) => ACTIVE_STATES.has(d.state)).sort((a, b) => b.createdAt - a.createdAt);
    const cause = causeOf(event);
    const own = active.find((d) => (cause.commandId !== undefined && d.commandId === cause.commandId) || (cause.grantId !== undefined && d.grantId === cause.grantId));
    return own ?? active.find((d) => STARTED_STATES.has(d.state));
  }

  private eventOptions(d: DeliveryRecord): { source: string; id: string; subject: string } {
    return { source: SOURCE, id: `${d.id}-${d.version + 1}`, subject: d.deviceId };
  }

  /**
   * Writes the transition with compare-and-set (the stored version must be the one read), its events in the outbox;
   * then publishes them, sends the command, and clears the outbox.
   */
  private async commit(current: DeliveryRecord, t: Transition, events: EventEnvelope[] = []): Promise<DeliveryRecord> {
    const now = this.clock();
    const emitted = t.emit ? [this.completionEvent(t, now)] : [];
    const next: DeliveryRecord = { ...t.next, version: current.version + 1, outbox: [...events, ...emitted] };
    if (!(await this.options.state.updateDelivery(next))) {
      throw new KeywayError(ErrorCode.Conflict, `delivery ${current.id} changed meanwhile; read it again and retry`, { details: { deliveryId: current.id } });
    }
    if (t.effect.kind === 'command') {
      // Only an open carries the courier's grant. A close needs none (the hub signs it): attached, a close after the
      // window ended was refused by the garage and the door stayed open.
      const grantId = t.effect.action === 'open' ? (next.grantId ?? undefined) : undefined;
      await this.options.access.sendCommand(next.deviceId, t.effect.action, grantId, next.commandId ?? undefined).catch((error: unknown) => {
        // The deadline sweeper fails or retries the step; the command itself is never retried blindly.
        this.log.warn({ err: error, deliveryId: next.id, action: t.effect }, 'could not send the command');
      });
    }
    if (!ACTIVE_STATES.has(next.state)) await this.endGrant(next);
    return this.flush(next);
  }

  /** Revokes the courier's grant of a delivery that has ended, so its PIN and grant open the garage no more. */
  private async endGrant(d: DeliveryRecord): Promise<void> {
    // The grant lasts exactly the window: past it there is nothing to revoke, and no read for each old delivery at start.
    if (!d.grantId || d.windowEnd <= this.clock()) return;
    const grant = await this.options.state.getGrant(d.grantId);
    if (!grant || grant.revokedAt !== null || grant.validUntil <= this.clock()) return;
    const reason = d.state === 'completed' ? 'delivery completed' : `delivery failed: ${d.failureReason ?? 'unknown'}`;
    await this.options.access.revokeGrant(d.grantId, reason).catch((error: unknown) => {
      // Revoked at the next start (flushOutboxes) at the latest.
      this.log.warn({ err: error, deliveryId: d.id, grantId: d.grantId }, "could not revoke an ended delivery's grant");
    });
  }

  private completionEvent(t: Transition, now: number): EventEnvelope {
    const d = t.next;
    const options = { source: SOURCE, id: `${d.id}-${d.version}-${t.emit}`, subject: d.deviceId };
    if (t.emit === 'DeliveryCompleted') {
      const arrived = d.timeline.find((e) => e.step === 'courier arrived')?.at ?? d.createdAt;
      return createEvent('keyway.delivery.DeliveryCompleted', { deliveryId: d.id, deviceId: d.deviceId, completedAt: new Date(now).toISOString(), durationMs: Math.max(0, now - arrived) }, options);
    }
    const reason = (d.failureReason ?? 'cancelled') as KeywayEvent<'keyway.delivery.DeliveryFailed'>['data']['reason'];
    const detail = d.timeline[d.timeline.length - 1]?.detail?.detail;
    return createEvent('keyway.delivery.DeliveryFailed', { deliveryId: d.id, deviceId: d.deviceId, reason, ...(typeof detail === 'string' ? { detail } : {}), at: new Date(now).toISOString() }, options);
  }

  private async flush(d: DeliveryRecord): Promise<DeliveryRecord> {
    if (d.outbox.length === 0) return d;
    await publishAll(this.options.publisher, d.outbox as EventEnvelope[]);
    const cleared = { ...d, outbox: [], version: d.version + 1 };
    // Losing this race only means another writer moved on; the events are already on the bus (dedup makes a resend harmless).
    return (await this.options.state.updateDelivery(cleared)) ? cleared : ((await this.options.state.getDelivery(d.id)) ?? cleared);
  }

  /** Publishes outboxes left by a crash between a state change and its publish. */
  private async flushOutboxes(): Promise<void> {
    let after: string | undefined;
    for (;;) {
      const page = await this.options.state.listDeliveries({}, { limit: 500, ...(after ? { after } : {}) });
      for (const d of page) {
        if (d.outbox.length > 0) await this.flush(d);
        // A crash between a delivery's end and its grant's revocation: revoke it now.
        if (!ACTIVE_STATES.has(d.state)) await this.endGrant(d);
      }
      if (page.length < 500) return;
      after = page[page.length - 1]?.id;
    }
  }

  private async mustGet(id: string): Promise<DeliveryRecord> {
    const d = await this.options.state.getDelivery(id);
    if (!d) throw new KeywayError(ErrorCode.NotFound, `delivery ${id} does not exist`, { details: { deliveryId: id } });
    return d;
  }

  private async expect(id: string, states: DeliveryState[]): Promise<DeliveryRecord> {
    const d = await this.mustGet(id);
    if (!states.includes(d.state)) {
      throw new KeywayError(ErrorCode.Conflict, `delivery ${id} is ${d.state}; this step needs it to be ${states.join(' or ')}`, { details: { deliveryId: id, state: d.state } });
    }
    return d;
  }
}
