import { createLogger, type EventEnvelope, type Logger } from '@keyway/shared';
import type { KeywayEvent } from '@keyway/shared/client';
import { CircuitBreaker } from '../bus/circuit-breaker.js';
import { DeferDelivery } from '../bus/defer.js';
import { SIGNATURE_HEADER, signWebhook } from '../bus/webhook-signature.js';
import type { SubscriberDeclaration } from '../bus/types.js';
import type { HubStateStore } from '../state/types.js';

/** scheme://host:port of a URL, without its path or query (which may carry a secret). */
function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(unparsable URL)';
  }
}

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

/** Consecutive failures after which one customer's webhook is left alone for CUSTOMER_CIRCUIT_OPEN_MS. */
export const CUSTOMER_CIRCUIT_FAILURES = 3;
export const CUSTOMER_CIRCUIT_OPEN_MS = 5_000;
/** How long a notification waits while another one probes its customer's half-open circuit. */
const PROBE_WAIT_MS = 1_000;

/**
 * Notifications: one subscriber in its own account and queue, apart from every other subscriber. Inside it, each
 * customer's webhook has its own circuit: while a webhook's circuit is open its notifications are deferred (not
 * attempted, no attempt spent) until the circuit lets a probe through, while every other customer's notifications
 * keep flowing. Failed calls are retried with backoff, then dead-lettered. The
 * subscriber-wide circuit would do the opposite (one failing customer would hold back all), so it never opens here.
 */
export function notificationSubscriber(options: { state: HubStateStore; timeoutMs?: number; logger?: Logger; clock?: () => number }): SubscriberDeclaration {
  const log = options.logger ?? createLogger('service.notify');
  const clock = options.clock ?? Date.now;
  const circuits = new Map<string, CircuitBreaker>();
  const probing = new Set<string>();
  const circuitOf = (url: string): CircuitBreaker => {
    let c = circuits.get(url);
    if (!c) {
      c = new CircuitBreaker({
        failureThreshold: CUSTOMER_CIRCUIT_FAILURES,
        openMs: CUSTOMER_CIRCUIT_OPEN_MS,
        // The origin only: a customer's webhook URL may carry a token in its path or query.
        onChange: (from, to) => log.warn({ webhook: originOf(url), from, to }, `customer webhook circuit ${to}`),
      });
      circuits.set(url, c);
    }
    return c;
  };
  return {
    name: 'notify.customers',
    account: 'notify',
    types: NOTIFY_TYPES,
    timeoutMs: options.timeoutMs ?? 5_000,
    // Enough in flight that a few customers' slow webhooks (up to timeoutMs each) do not hold the others back.
    concurrency: 32,
    retry: { maxAttempts: 6, baseDelayMs: 200, maxDelayMs: 30_000 },
    circuit: { failureThreshold: Number.MAX_SAFE_INTEGER },
    alarms: { dlqDepth: 10 },
    target: {
      kind: 'handler',
      handler: async (raw, context) => {
        const event = raw as NotifyEvent;
        const note = describeForCustomer(event);
        if (!note) return;
        // A delivery's notes go to the delivery's customer (a garage in a shared building serves several tenants);
        // a door note goes to the garage's.
        const delivery = note.deliveryId !== undefined ? await options.state.getDelivery(note.deliveryId) : undefined;
        const customerId = delivery?.customerId ?? (await options.state.getDevice(note.deviceId))?.customerId;
        const customer = customerId !== undefined ? await options.state.getCustomer(customerId) : undefined;
        if (!customer?.webhookUrl) {
          log.debug({ deviceId: note.deviceId }, 'no customer webhook; notification skipped');
          return;
        }
        const url = customer.webhookUrl;
        const circuit = circuitOf(url);
        const gate = circuit.gate(clock());
        // Half-open: one call tries the webhook; the others wait for its answer as if it were still open.
        if (gate === 'blocked' || (gate === 'probe' && probing.has(url))) {
          // Not an attempt: this notification waits for the circuit, its retries are kept for real calls.
          const until = gate === 'blocked' ? circuit.retryAt : clock() + PROBE_WAIT_MS;
          throw new DeferDelivery(until, `customer webhook failed ${CUSTOMER_CIRCUIT_FAILURES} times in a row; not called until ${new Date(until).toISOString()}`);
        }
        if (gate === 'probe') probing.add(url);
        const body = JSON.stringify({ ...note, event: raw });
        try {
          const response = await fetch(url, {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              // account + NUL + source + NUL + id: percent-encoded, since header values cannot carry control characters.
              'x-keyway-dedup-key': encodeURIComponent(context.dedupKey),
              ...(customer.webhookSecret ? { [SIGNATURE_HEADER]: signWebhook(customer.webhookSecret, body, Date.now()) } : {}),
            },
            body,
            signal: context.signal,
          });
          if (!response.ok) throw new Error(`customer webhook answered ${response.status}`);
        } catch (error) {
          circuit.onFailure(clock());
          throw error;
        } finally {
          if (gate === 'probe') probing.delete(url);
        }
        circuit.onSuccess();
        // Only failing webhooks are remembered: the map stays as small as the set of customers in trouble.
        circuits.delete(url);
      },
    },
  };
}
