import { afterEach, describe, expect, it } from 'vitest';
import type { AlarmRaisedV1Data } from '@keyway/shared/generated';
import { scheduled, startBus, startTarget, waitFor, type TestHub, type TestServer } from './helpers.js';

describe('bus alarms', () => {
  let hub: TestHub;
  let server: TestServer;
  afterEach(async () => {
    await hub.close();
    await server.close();
  });

  it('raises DLQ-depth and failure-rate alarms as events and webhook calls, and clears them when back to normal', async () => {
    server = await startTarget();
    hub = await startBus({ alarmWebhookUrl: server.url });
    const alarms: AlarmRaisedV1Data[] = [];
    await hub.bus.declareSubscriber({
      name: 'ops-alarms',
      account: 'ops',
      types: ['keyway.platform.AlarmRaised'],
      target: { kind: 'handler', handler: (e) => void alarms.push(e.data as AlarmRaisedV1Data) },
    });
    let healthy = false;
    await hub.bus.declareSubscriber({
      name: 'sms',
      account: 'notify',
      types: ['keyway.delivery.DeliveryScheduled'],
      retry: { maxAttempts: 1 },
      alarms: { dlqDepth: 0, failureRate: 0.5, queueDepth: 100 },
      target: {
        kind: 'handler',
        handler: () => {
          if (!healthy) throw new Error('sms gateway down');
        },
      },
    });
    await hub.bus.publishAs('delivery', [scheduled(), scheduled()]);
    await waitFor(async () => (await hub.bus.subscriberStats('sms')).dead === 2, 2000, 'dead letters');
    await hub.bus.evaluateAlarms();
    await waitFor(() => alarms.length === 2, 2000, 'raised alarms');
    expect(alarms.map((a) => [a.alarm, a.state, a.value]).sort()).toEqual([
      ['sms.dlq-depth', 'raised', 2],
      ['sms.failure-rate', 'raised', 1],
    ]);
    await waitFor(() => server.requests.length === 2, 2000, 'alarm webhook');
    expect(JSON.parse(server.requests[0]!.body)).toMatchObject({ subscriber: 'sms', state: 'raised' });
    expect(await hub.bus.metrics.getSingleMetricAsString('keyway_bus_alarm_raised')).toMatch(/metric="dlq-depth"} 1/);

    // a second evaluation with nothing changed raises nothing new, and a window without attempts (no evidence either
    // way, as while a circuit is open) does not clear the failure rate
    await hub.bus.evaluateAlarms();
    await new Promise((r) => setTimeout(r, 50));
    expect(alarms.filter((a) => a.metric === 'dlq-depth')).toHaveLength(1);
    expect(alarms.filter((a) => a.metric === 'failure-rate')).toHaveLength(1);

    healthy = true;
    await hub.bus.redrive('sms');
    await waitFor(async () => (await hub.bus.subscriberStats('sms')).queued === 0, 2000, 'redriven deliveries');
    await hub.bus.evaluateAlarms();
    await waitFor(() => alarms.length === 4, 2000, 'cleared alarms');
    expect(alarms.slice(2).map((a) => [a.alarm, a.state]).sort()).toEqual([
      ['sms.dlq-depth', 'cleared'],
      ['sms.failure-rate', 'cleared'],
    ]);
    expect(alarms.some((a) => a.metric === 'queue-depth')).toBe(false);
  });

  it('raises an oldest-age alarm while a queue is stuck', async () => {
    server = await startTarget();
    hub = await startBus();
    const raised: string[] = [];
    await hub.bus.declareSubscriber({
      name: 'watch',
      account: 'ops',
      types: ['keyway.platform.AlarmRaised'],
      target: { kind: 'handler', handler: (e) => void raised.push(`${(e.data as AlarmRaisedV1Data).alarm}:${(e.data as AlarmRaisedV1Data).state}`) },
    });
    await hub.bus.declareSubscriber({
      name: 'stuck',
      account: 'notify',
      types: ['keyway.delivery.DeliveryScheduled'],
      timeoutMs: 5_000,
      alarms: { oldestAgeMs: 50 },
      target: { kind: 'handler', handler: () => new Promise<void>((r) => setTimeout(r, 400)) },
    });
    await hub.bus.publishAs('delivery', [scheduled()]);
    await new Promise((r) => setTimeout(r, 100));
    await hub.bus.evaluateAlarms();
    await waitFor(() => raised.includes('stuck.oldest-age-ms:raised'), 2000, 'age alarm');
    await waitFor(async () => (await hub.bus.subscriberStats('stuck')).queued === 0, 2000, 'delivery');
    await hub.bus.evaluateAlarms();
    await waitFor(() => raised.includes('stuck.oldest-age-ms:cleared'), 2000, 'age alarm cleared');
  });
});
