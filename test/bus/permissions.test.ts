import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteBusStore } from '@keyway/hub/storage';
import { schemaIdFor, type EventEnvelope } from '@keyway/shared';
import { registry, startBus, waitFor, type TestHub } from './helpers.js';

const ACCOUNTS = ['access', 'delivery', 'notify', 'device-gateway', 'platform', 'ops'];
const TYPES = registry.types();

function exampleEvent(type: string): EventEnvelope {
  const schema = registry.latest(type)!;
  return {
    specversion: '1.0',
    id: randomUUID(),
    source: 'keyway://test/permissions',
    type,
    time: new Date().toISOString(),
    dataschema: schemaIdFor(type, schema.version),
    datacontenttype: 'application/json',
    data: schema.meta.examples![0],
  };
}

type Refusal = `${'publish' | 'subscribe'}|${string}|${string}`;

describe('bus permissions', () => {
  let hub: TestHub;
  const detected: Refusal[] = [];

  beforeAll(async () => {
    hub = await startBus({ pollIntervalMs: 20 });
    await hub.bus.declareSubscriber({
      name: 'security-watch',
      account: 'ops',
      types: ['keyway.platform.UnauthorizedExchangeDetected'],
      // only the bus's own detections, not the example event the matrix publishes as platform
      patterns: [{ source: ['keyway://service/bus'] }],
      target: {
        kind: 'handler',
        handler: (e) => {
          const d = e.data as { kind: 'publish' | 'subscribe'; account: string; eventType: string };
          detected.push(`${d.kind}|${d.account}|${d.eventType}`);
        },
      },
    });
  });
  afterAll(async () => {
    await hub.close();
  });

  it(`refuses and detects every publish and subscribe beyond an account's rights (${ACCOUNTS.length} accounts x ${TYPES.length} types)`, async () => {
    const refused = new Set<Refusal>();
    let allowedPublishes = 0;
    let allowedSubscribes = 0;
    for (const account of ACCOUNTS) {
      for (const type of TYPES) {
        const [result] = await hub.bus.publishAs(account, [exampleEvent(type)]);
        if (registry.owner(type) === account) {
          expect(result, `${account} publishes ${type}`).toMatchObject({ status: 'accepted' });
          allowedPublishes += 1;
        } else {
          expect(result, `${account} publishes ${type}`).toMatchObject({ status: 'rejected', error: { code: 'UNAUTHORIZED' } });
          refused.add(`publish|${account}|${type}`);
        }

        const name = `perm-${account}-${type.split('.').pop()!}`;
        const declaring = hub.bus.declareSubscriber({ name, account, types: [type], target: { kind: 'handler', handler: () => undefined } });
        if (registry.consumers(type).includes(account)) {
          await expect(declaring, `${account} subscribes to ${type}`).resolves.toBe('created');
          await hub.bus.removeSubscriber(name);
          allowedSubscribes += 1;
        } else {
          await expect(declaring, `${account} subscribes to ${type}`).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
          refused.add(`subscribe|${account}|${type}`);
        }
      }
    }
    // both outcomes occur, so the matrix exercises the check rather than one branch of it
    expect(allowedPublishes).toBe(TYPES.length);
    expect(allowedSubscribes).toBeGreaterThan(TYPES.length);
    expect(refused.size).toBeGreaterThan(100);

    await waitFor(() => detected.length >= refused.size, 10_000, 'one detection per refusal');
    expect(new Set(detected)).toEqual(refused);
    expect(detected).toHaveLength(refused.size);
    const metric = await hub.bus.metrics.getSingleMetricAsString('keyway_bus_unauthorized_exchange_total');
    const total = [...metric.matchAll(/} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
    expect(total).toBe(refused.size);
  });

  it('detects a publish with an unknown API key', async () => {
    const before = detected.length;
    const [r] = await hub.bus.publish('kw_stolen', [exampleEvent('keyway.delivery.DeliveryScheduled')]);
    expect(r).toMatchObject({ status: 'rejected', error: { code: 'UNAUTHENTICATED' } });
    await waitFor(() => detected.length === before + 1, 2000, 'detection');
    expect(detected.at(-1)).toBe('publish|undefined|undefined');
  });
});

describe('stored subscribers at start', () => {
  it('a stored subscriber whose account may no longer consume its type is neither resumed nor routed, nor reported as an intrusion', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyway-stored-'));
    const dbPath = join(dir, 'bus.db');
    // As if declared while the account was still a consumer: written to the store directly.
    const before = new SqliteBusStore({ path: dbPath });
    await before.init();
    const config = { types: ['keyway.platform.UnauthorizedExchangeDetected'], patterns: [], target: { kind: 'handler' }, transform: null, concurrency: 8, orderedBySubject: false, timeoutMs: 10_000, retry: { maxAttempts: 8, maxAgeMs: 86_400_000, baseDelayMs: 100, maxDelayMs: 60_000 }, circuit: { failureThreshold: 5, openMs: 5000 }, alarms: null };
    await before.upsertSubscriber({ name: 'ghost', account: 'notify', config: JSON.stringify(config), updatedAt: 1 });
    await before.close();

    const hub = await startBus({}, dbPath);
    const reader = new SqliteBusStore({ path: dbPath });
    await reader.init();
    try {
      const [published] = await hub.bus.publishAs('platform', [exampleEvent('keyway.platform.UnauthorizedExchangeDetected')]);
      expect(published?.status).toBe('accepted');
      expect((await reader.stats('ghost', Date.now())).queued).toBe(0);
      expect(await hub.bus.metrics.getSingleMetricAsString('keyway_bus_unauthorized_exchange_total')).not.toMatch(/} [1-9]/);
    } finally {
      await reader.close();
      await hub.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
