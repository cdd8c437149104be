/**
 * Two buses on one store and one schema audit trail, as two hub replicas are: a subscriber declared through one is
 * routed to by the other once that one knows the subscriber's event type, even when it learns the type only after
 * it first saw the subscriber.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { generateHubKeyPair, importHubPrivateKey } from '@keyway/shared/grants';
import { AuditTrail, FileAuditStore, SchemaRegistry } from '@keyway/shared/registry';
import { Bus, SecretBox } from '@keyway/hub/bus';
import { SqliteBusStore } from '@keyway/hub/storage';
import { opsProbeEvent, opsProbeSchema } from '../support/ops-probe.js';
import { startTarget, waitFor, type TestServer } from './helpers.js';

describe('subscribers shared by two replicas', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('a replica that meets a subscriber before it knows its event type routes to it once it learns the type', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyway-replicas-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const box = SecretBox.fromSigningKey(importHubPrivateKey(generateHubKeyPair().privateKeyPem));
    const replica = async () => {
      const registry = SchemaRegistry.fromEmbedded({ audit: new AuditTrail(new FileAuditStore(join(dir, 'audit.jsonl'))) });
      await registry.restore();
      const bus = new Bus({ store: new SqliteBusStore({ path: join(dir, 'bus.db') }), validator: registry, secretBox: box });
      await bus.start();
      cleanups.push(() => bus.stop());
      return { registry, bus };
    };
    const a = await replica();
    const b = await replica();
    const hook: TestServer = await startTarget();
    cleanups.push(() => hook.close());

    // Through replica a: a new type, then a webhook subscriber to it.
    await a.registry.register(opsProbeSchema('LateType', 1), { actor: 'ops' });
    await a.bus.createAccount('ops');
    await a.bus.declareSubscriber({ name: 'late-hook', account: 'ops', types: ['keyway.ops.LateType'], target: { kind: 'webhook', url: hook.url, secret: 'a-secret-of-16-chars' } });
    // Replica b's subscriber refresh runs before its registry has read the new type.
    await b.bus.refreshSubscribers();
    // Then its registry catches up, and the next subscriber refresh must apply what it could not before.
    expect(await b.registry.refresh()).toBeGreaterThan(0);
    await b.bus.refreshSubscribers();
    const [result] = await b.bus.publishAs('ops', [opsProbeEvent('LateType', 1, 'late-1')]);
    expect(result).toMatchObject({ status: 'accepted' });
    await waitFor(() => hook.requests.length === 1, 5_000, 'the event published through b at the webhook');
    expect(JSON.parse(hook.requests[0]!.body)).toMatchObject({ id: 'late-1' });
  });
});
