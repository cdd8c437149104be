import { createLogger, type EventEnvelope, type Logger } from '@keyway/shared';
import type { KeywayEvent } from '@keyway/shared/client';
import { SIGNATURE_HEADER, signWebhook } from '../bus/webhook-signature.js';
import type { SubscriberDeclaration } from '../bus/types.js';
import type { HubStateStore } from '../state/types.js';

export const NOTIFY_TYPES = [
  'keyway.delivery.CourierArrived',
  'keyway.delivery.DeliveryCompleted',
  'keyway.delivery.DeliveryFailed',
  'keyway.device.DoorStateChanged',
  'keyway.device.ObstructionDetected',
  'keyway.device.SensorFault',
] as const;

/** What the customer receives: one line to show, and the event for details. */
export interface CustomerNotification {
  kind: 'courier-arrived' | 'door-opened' | 'delivery-completed' | 'delivery-failed' | 'obstruction' | 'sensor-fault';
  message: string;
  deviceId: string;
  deliveryId?: string;
  event: EventEnvelope;
}

type NotifyEvent = { [T in (typeof NOTIFY_TYPES)[number]]: KeywayEvent<T> }[(typeof NOTIFY_TYPES)[number]];

/** Turns an event into the customer's words; undefined when it is nothing the customer needs to hear. */
export function describeForCustomer(event: NotifyEvent): Omit<CustomerNotification, 'event'> | undefined {
  switch (event.type) {
    case 'keyway.delivery.CourierArrived':
      return { kind: 'courier-arrived', message: 'Your courier has arrived at the garage.', deviceId: event.data.deviceId, deliveryId: event.data.deliveryId };
    case 'keyway.delivery.DeliveryCompleted':
      return { kind: 'delivery-completed', message: 'Your parcel is inside and the garage door is closed.', deviceId: event.data.deviceId, deliveryId: event.data.deliveryId };
    case 'keyway.delivery.DeliveryFailed':
      return { kind: 'delivery-failed', message: `The delivery needs your attention: ${event.data.reason}${event.data.detail ? ` (${event.data.detail})` : ''}.`, deviceId: event.data.deviceId, deliveryId: event.data.deliveryId };
    case 'keyway.device.DoorStateChanged':
      return event.data.state === 'open' ? { kind: 'door-opened', message: 'Your garage door is open.', deviceId: event.data.deviceId } : undefined;
    case 'keyway.device.ObstructionDetected':
      return { kind: 'obstruction', message: `Something blocked the garage door while ${event.data.during}${event.data.reversed ? '; it reversed' : ''}.`, deviceId: event.data.deviceId };
    case 'keyway.device.SensorFault':
      return { kind: 'sensor-fault', message: `The garage reports a fault: ${event.data.sensor} ${event.data.fault}.`, deviceId: event.data.deviceId };
  }
}

/**
 * Notifications: one subscriber in its own account and queue, so a slow customer webhook only delays that queue.
 * A webhook that fails throws, and the bus retries with backoff, then dead-letters.
 */
export function notificationSubscriber(options: { state: HubStateStore; timeoutMs?: number; logger?: Logger }): SubscriberDeclaration {
  const log = options.logger ?? createLogger('service.notify');
  return {
    name: 'notify.customers',
    account: 'notify',
    types: NOTIFY_TYPES,
    timeoutMs: options.timeoutMs ?? 5_000,
    retry: { maxAttempts: 6, baseDelayMs: 200, maxDelayMs: 30_000 },
    alarms: { dlqDepth: 10 },
    target: {
      kind: 'handler',
      handler: async (raw, context) => {
        const event = raw as NotifyEvent;
        const note = describeForCustomer(event);
        if (!note) return;
        const device = await options.state.getDevice(note.deviceId);
        const customer = device && (await options.state.getCustomer(device.customerId));
        if (!customer?.webhookUrl) {
          log.debug({ deviceId: note.deviceId }, 'no customer webhook; notification skipped');
          return;
        }
        const body = JSON.stringify({ ...note, event: raw });
        const response = await fetch(customer.webhookUrl, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            // source + NUL + id: percent-encoded, since header values cannot carry control characters.
            'x-keyway-dedup-key': encodeURIComponent(context.dedupKey),
            ...(customer.webhookSecret ? { [SIGNATURE_HEADER]: signWebhook(customer.webhookSecret, body, Date.now()) } : {}),
          },
          body,
          signal: context.signal,
        });
        if (!response.ok) throw new Error(`customer webhook answered ${response.status}`);
      },
    },
  };
}
