import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEvent } from '@keyway/shared/client';
import { until } from '../../scripts/support/until.js';
import { opsProbeEvent, opsProbeSchema } from '../support/ops-probe.js';
import { startTestHub, type TestHub } from './start-hub.js';

let t: TestHub;
beforeAll(async () => {
  t = await startTestHub();
});
afterAll(async () => {
  await t.stop();
});

const at = new Date().toISOString();

describe('the hub HTTP API', () => {
  it('refuses a request without an API key, and one with an unknown key, with a typed error', async () => {
    expect(await t.call('GET', '/v1/schemas', undefined, '')).toMatchObject({ status: 401, body: { error: { code: 'UNAUTHENTICATED' } } });
    expect(await t.call('GET', '/v1/schemas', undefined, 'kw_not_a_key_at_all')).toMatchObject({ status: 401, body: { error: { code: 'UNAUTHENTICATED' } } });
  });

  it('serves health, readiness, metrics and an OpenAPI document without a key', async () => {
    expect(await t.call('GET', '/healthz', undefined, '')).toMatchObject({ status: 200, body: { status: 'ok' } });
    expect(await t.call('GET', '/readyz', undefined, '')).toMatchObject({ status: 200, body: { status: 'ready', checks: { bus: true, broker: true } } });
    const metrics = await t.call('GET', '/metrics', undefined, '');
    expect(metrics.status).toBe(200);
    expect(String(metrics.body)).toMatch(/keyway_/);
    const openapi = await t.call('GET', '/openapi.json', undefined, '');
    expect(Object.keys(openapi.body.paths)).toEqual(expect.arrayContaining(['/v1/events', '/v1/deliveries', '/v1/devices', '/v1/grants', '/v1/subscribers/{name}/dlq', '/v1/schemas']));
  });

  it('publishes a batch with one result per entry; a bad entry fails alone and nothing of it is stored', async () => {
    const created = await t.call('POST', '/v1/accounts', { name: 'delivery-app' }, t.admin, { 'idempotency-key': 'acct-1' });
    expect(created.status).toBe(201);
    // A retried creation gets the same key back, not a second working key; the same key on another path is another request.
    expect((await t.call('POST', '/v1/accounts', { name: 'delivery-app' }, t.admin, { 'idempotency-key': 'acct-1' })).body.apiKey).toBe(created.body.apiKey);
    const forA = await t.call('POST', '/v1/accounts/delivery-app/keys', undefined, t.admin, { 'idempotency-key': 'keys-1' });
    const forB = await t.call('POST', '/v1/accounts/ops/keys', undefined, t.admin, { 'idempotency-key': 'keys-1' });
    expect([forA.body.account, forB.body.account]).toEqual(['delivery-app', 'ops']);
    const deliveryKey = (await t.call('POST', '/v1/accounts/delivery/keys')).body.apiKey as string;
    const good = createEvent('keyway.delivery.PackagePlaced', { deliveryId: 'x-1', deviceId: 'garage-1', at }, { source: 'keyway://service/delivery', id: 'api-test-1' });
    const bad = { ...good, id: 'api-test-2', data: { deliveryId: 'x-1' } };
    const notOwned = createEvent('keyway.access.GrantRevoked', { grantId: 'g', deviceId: 'garage-1', revokedAt: at }, { source: 'keyway://service/delivery', id: 'api-test-3' });
    const r = await t.call('POST', '/v1/events', { entries: [good, bad, notOwned, 'not json {'] }, deliveryKey);
    expect(r.status).toBe(200);
    expect(r.body.failedEntryCount).toBe(3);
    expect(r.body.entries.map((e: { status: string; error?: { code: string } }) => e.error?.code ?? e.status)).toEqual(['accepted', 'VALIDATION_FAILED', 'UNAUTHORIZED', 'MALFORMED_JSON']);
    const again = await t.call('POST', '/v1/events', { entries: [good] }, deliveryKey);
    expect(again.body.entries[0].status).toBe('duplicate');
  });

  it('refuses an oversized batch and malformed JSON with clear codes', async () => {
    const entries = Array.from({ length: 11 }, (_, i) => ({ id: String(i) }));
    expect(await t.call('POST', '/v1/events', { entries })).toMatchObject({ status: 413, body: { error: { code: 'BATCH_TOO_LARGE' } } });
    expect(await t.call('POST', '/v1/events', '{"entries": [')).toMatchObject({ status: 400, body: { error: { code: 'MALFORMED_JSON' } } });
    expect(await t.call('POST', '/v1/events', { nope: 1 })).toMatchObject({ status: 400, body: { error: { code: 'INVALID_INPUT' } } });
  });

  it('refuses a number that is not finite ("1e400", "Infinity") in a query or body field as INVALID_INPUT, not a 500', async () => {
    for (const limit of ['1e400', 'Infinity', '-Infinity']) {
      for (const route of ['/v1/devices', '/v1/grants', '/v1/deliveries']) {
        const r = await t.call('GET', `${route}?limit=${limit}`);
        expect({ route, limit, status: r.status, code: r.body.error?.code }).toEqual({ route, limit, status: 400, code: 'INVALID_INPUT' });
        expect(r.body.error.message).toContain('limit must be a finite number');
      }
    }
    await t.call('POST', '/v1/devices', { deviceId: 'garage-finite', customerId: 'cust-1' });
    const now = Date.now();
    const grant = await t.call('POST', '/v1/grants', { deviceId: 'garage-finite', holder: 'h', validFrom: new Date(now).toISOString(), validUntil: new Date(now + 3_600_000).toISOString(), maxUses: 'Infinity' });
    expect(grant).toMatchObject({ status: 400, body: { error: { code: 'INVALID_INPUT', message: expect.stringContaining('maxUses must be a finite number') } } });
    expect((await t.call('GET', '/v1/devices?limit=2')).status).toBe(200);
  });

  it('answers an unknown route and a malformed body in the documented error shape, with details', async () => {
    const unknown = await t.call('GET', '/v1/nothing');
    expect(unknown).toMatchObject({ status: 404, body: { error: { code: 'NOT_FOUND', message: expect.stringContaining('GET /v1/nothing'), details: {} } } });
    expect(unknown.body).not.toHaveProperty('statusCode');
    expect(await t.call('POST', '/v1/events', '{"entries": [')).toMatchObject({ status: 400, body: { error: { code: 'MALFORMED_JSON', details: {} } } });
    expect(await t.call('GET', '/v1/nothing', undefined, '')).toMatchObject({ status: 404, body: { error: { code: 'NOT_FOUND' } } });
    expect(await t.call('GET', '/v1/devices/%E0%A4%A')).toMatchObject({ status: 400, body: { error: { code: 'INVALID_INPUT', message: expect.stringContaining('path cannot be read'), details: {} } } });
  });

  it('answers oversized headers, oversized bodies and unknown filter values in the Keyway error shape', async () => {
    const huge = await fetch(`${t.url}/v1/devices`, { headers: { 'x-api-key': t.admin, 'x-padding': 'x'.repeat(20_000) } });
    expect(huge.status).toBe(431);
    expect(await huge.json()).toEqual({ error: { code: 'INVALID_INPUT', message: 'the request headers (or URL) are over 16 KiB', details: {} } });
    const bigBody = { deviceId: 'garage-x', holder: 'x'.repeat(2 * 1024 * 1024) };
    expect(await t.call('POST', '/v1/grants', bigBody)).toMatchObject({ status: 413, body: { error: { code: 'INVALID_INPUT', message: 'the request body is over 1048576 bytes' } } });
    expect(await t.call('POST', '/v1/events', { entries: ['x'.repeat(2 * 1024 * 1024)] })).toMatchObject({ status: 413, body: { error: { code: 'BATCH_TOO_LARGE' } } });
    expect(await t.call('GET', '/v1/deliveries?state=bogus')).toMatchObject({ status: 400, body: { error: { code: 'INVALID_INPUT' } } });
    const openapi = (await t.call('GET', '/openapi.json', undefined, '')).body;
    expect(openapi.paths['/healthz'].get.security).toEqual([]);
    expect(openapi.paths['/v1/devices'].get.security).toBeUndefined();
  });

  it('refuses a date-time the hub cannot read (a leap second) by naming the field, not as "validUntil must be after validFrom"', async () => {
    await t.call('POST', '/v1/devices', { deviceId: 'garage-leap', customerId: 'cust-1' });
    const r = await t.call('POST', '/v1/grants', { deviceId: 'garage-leap', holder: 'h', validFrom: new Date().toISOString(), validUntil: '2026-12-31T23:59:60Z' });
    expect(r).toMatchObject({ status: 400, body: { error: { code: 'INVALID_INPUT', message: expect.stringMatching(/^validUntil "2026-12-31T23:59:60Z" is not a time the hub can read/) } } });
  });

  it('provisions a device once per idempotency key and never returns its token hash', async () => {
    const body = { deviceId: 'garage-api-1', customerId: 'cust-1' };
    const first = await t.call('POST', '/v1/devices', body, t.admin, { 'idempotency-key': 'k-1' });
    expect(first.status).toBe(201);
    expect(first.body.mqtt.password).toMatch(/.{20,}/);
    expect(first.body.hubPublicKeyPem).toMatch(/BEGIN PUBLIC KEY/);
    const replay = await t.call('POST', '/v1/devices', body, t.admin, { 'idempotency-key': 'k-1' });
    expect(replay.body).toEqual(first.body);
    // The stored response is sealed: the device token is not in the state file in the clear.
    const db = new Database(path.join(t.dataDir, 'state.db'), { readonly: true });
    const stored = db.prepare('SELECT response FROM idempotency').all() as Array<{ response: string }>;
    db.close();
    expect(stored.length).toBeGreaterThan(0);
    for (const row of stored) expect(row.response).not.toContain(first.body.mqtt.password as string);
    expect((await t.call('POST', '/v1/devices', body)).body.error.code).toBe('CONFLICT');
    const listed = await t.call('GET', '/v1/devices?limit=1');
    expect(listed.body.items[0]).not.toHaveProperty('tokenHash');
  });

  it('when five requests with one Idempotency-Key race, one grant is issued and the others get CONFLICT or its response', async () => {
    const grant = { deviceId: 'garage-api-1', holder: 'courier-race', validFrom: at, validUntil: new Date(Date.now() + 3600_000).toISOString() };
    const answers = await Promise.all([1, 2, 3, 4, 5].map(() => t.call('POST', '/v1/grants', grant, t.admin, { 'idempotency-key': 'race-1' })));
    const issued = answers.filter((a) => a.status === 201);
    expect(new Set(issued.map((a) => a.body.id as string)).size).toBe(1);
    for (const a of answers.filter((x) => x.status !== 201)) expect(a).toMatchObject({ status: 409, body: { error: { code: 'CONFLICT' } } });
    const stored = (await t.call('GET', '/v1/grants?deviceId=garage-api-1&limit=500')).body.items.filter((g: { holder: string }) => g.holder === 'courier-race');
    expect(stored).toHaveLength(1);
    // A retry once it has finished gets the same grant.
    const retry = await t.call('POST', '/v1/grants', grant, t.admin, { 'idempotency-key': 'race-1' });
    expect(retry).toMatchObject({ status: 201, body: { id: issued[0]?.body.id } });
  });

  it('when a request with an Idempotency-Key fails, a retry with that key runs again', async () => {
    const grant = { deviceId: 'garage-nowhere', holder: 'h', validFrom: at, validUntil: new Date(Date.now() + 3600_000).toISOString() };
    expect((await t.call('POST', '/v1/grants', grant, t.admin, { 'idempotency-key': 'fail-1' })).status).toBe(404);
    await t.call('POST', '/v1/devices', { deviceId: 'garage-nowhere', customerId: 'cust-1' });
    expect((await t.call('POST', '/v1/grants', grant, t.admin, { 'idempotency-key': 'fail-1' })).status).toBe(201);
  });

  it("lists a device's refused events with their bodies and redrives them: what the bus takes now leaves the list", async () => {
    await t.call('POST', '/v1/devices', { deviceId: 'garage-refused', customerId: 'cust-1' });
    const heartbeat = (seq: number) => createEvent('keyway.device.Heartbeat', { deviceId: 'garage-refused', uptimeS: seq, at }, { source: 'keyway://device/garage-refused', id: `garage-refused-${seq}` });
    // As the gateway keeps them: seq 4 was refused while the hub was briefly without the type (now fine), seq 7 is invalid.
    await t.hub.internals.state.keepRefusedEvents([
      { deviceId: 'garage-refused', seq: 4, code: 'UNKNOWN_SCHEMA_VERSION', message: 'm', payload: JSON.stringify(heartbeat(4)), at: Date.now() },
      { deviceId: 'garage-refused', seq: 7, code: 'VALIDATION_FAILED', message: 'm', payload: JSON.stringify({ ...heartbeat(7), data: { uptimeS: -1 } }), at: Date.now() },
      // A valid event this device sent as another device: refused for that, and never published by a redrive.
      { deviceId: 'garage-refused', seq: 9, code: 'UNAUTHORIZED', message: 'm', payload: JSON.stringify({ ...heartbeat(9), source: 'keyway://device/garage-api-1', id: 'garage-api-1-42' }), at: Date.now() },
    ]);
    const listed = await t.call('GET', '/v1/devices/garage-refused/refused');
    expect(listed.body).toMatchObject({ items: [{ seq: 4, code: 'UNKNOWN_SCHEMA_VERSION', event: { id: 'garage-refused-4' } }, { seq: 7, code: 'VALIDATION_FAILED' }, { seq: 9, code: 'UNAUTHORIZED' }], next: null });
    const notifyKey = (await t.call('POST', '/v1/accounts/notify/keys')).body.apiKey as string;
    expect((await t.call('GET', '/v1/devices/garage-refused/refused', undefined, notifyKey)).status).toBe(403);
    expect((await t.call('GET', '/v1/devices/garage-nope/refused')).status).toBe(404);
    const redriven = await t.call('POST', '/v1/devices/garage-refused/refused/redrive');
    expect(redriven).toMatchObject({ status: 200, body: { published: 1, stillRefused: 2, more: false } });
    expect((await t.call('GET', '/v1/devices/garage-refused/refused')).body.items.map((r: { seq: number; code: string }) => [r.seq, r.code])).toEqual([
      [7, 'VALIDATION_FAILED'],
      [9, 'UNAUTHORIZED'],
    ]);
  });

  it('lets only the access account (or the platform) issue grants', async () => {
    const notifyKey = (await t.call('POST', '/v1/accounts/notify/keys')).body.apiKey as string;
    const grant = { deviceId: 'garage-api-1', holder: 'courier-1', validFrom: at, validUntil: new Date(Date.now() + 3600_000).toISOString() };
    expect(await t.call('POST', '/v1/grants', grant, notifyKey)).toMatchObject({ status: 403, body: { error: { code: 'UNAUTHORIZED' } } });
    const issued = await t.call('POST', '/v1/grants', grant);
    expect(issued.status).toBe(201);
    expect(issued.body.token.split('.')).toHaveLength(3);
    const revoked = await t.call('POST', `/v1/grants/${issued.body.id}/revoke`, { reason: 'test' });
    expect(revoked.body.revokedAt).toEqual(expect.any(Number));
  });

  it('schedules a delivery, which issues its grant, and pages through deliveries', async () => {
    const windowEnd = new Date(Date.now() + 3600_000).toISOString();
    for (const id of ['del-a', 'del-b', 'del-c']) {
      const r = await t.call('POST', '/v1/deliveries', { id, customerId: 'cust-1', deviceId: 'garage-api-1', courierId: 'courier-1', windowStart: at, windowEnd });
      expect(r.status).toBe(201);
      expect(r.body.state).toBe('access-granted');
    }
    const page1 = await t.call('GET', '/v1/deliveries?limit=2');
    expect(page1.body.items.map((d: { id: string }) => d.id)).toEqual(['del-a', 'del-b']);
    const page2 = await t.call('GET', `/v1/deliveries?limit=2&after=${page1.body.next}`);
    expect(page2.body).toMatchObject({ items: [{ id: 'del-c' }], next: null });
    const timeline = await t.call('GET', '/v1/deliveries/del-a/timeline');
    expect(timeline.body.timeline.map((e: { step: string }) => e.step)).toEqual(['scheduled', 'access granted']);
    expect(await t.call('POST', '/v1/deliveries/del-a/package-placed')).toMatchObject({ status: 409, body: { error: { code: 'CONFLICT' } } });
    expect(await t.call('GET', '/v1/deliveries/nope')).toMatchObject({ status: 404 });
  });

  it('lists schemas and refuses an incompatible registration with its problems', async () => {
    const list = await t.call('GET', '/v1/schemas');
    expect(list.body.items.find((s: { type: string }) => s.type === 'keyway.device.DoorStateChanged').versions).toHaveLength(2);
    const door = (await t.call('GET', '/v1/schemas/keyway.device.DoorStateChanged')).body.versions[1].document;
    const v3 = { ...door, id: door.id.replace('.v2.', '.v3.'), 'x-keyway': { ...door['x-keyway'], version: 3 }, required: [...door.required, 'mood'], properties: { ...door.properties, mood: { type: 'string' } } };
    const refused = await t.call('POST', '/v1/schemas', { document: v3 });
    expect(refused).toMatchObject({ status: 409, body: { error: { code: 'SCHEMA_INCOMPATIBLE' } } });
    const audit = await t.call('GET', '/v1/schemas-audit');
    expect(audit.body.verification).toEqual({ ok: true, entries: 0 });
    expect(await t.call('GET', '/v1/schemas/keyway.device.NoSuchEvent')).toMatchObject({ status: 404, body: { error: { code: 'NOT_FOUND' } } });
  });

  it("refuses a new version of another account's event type, even one naming the caller as its owner", async () => {
    const notifyKey = (await t.call('POST', '/v1/accounts/notify/keys')).body.apiKey as string;
    const v1 = (await t.call('GET', '/v1/schemas/keyway.access.GrantIssued')).body.versions[0].document;
    const v2 = { ...v1, id: v1.id.replace('.v1.', '.v2.'), 'x-keyway': { ...v1['x-keyway'], version: 2, owner: 'notify' } };
    const refused = await t.call('POST', '/v1/schemas', { document: v2 }, notifyKey);
    expect(refused).toMatchObject({ status: 403, body: { error: { code: 'UNAUTHORIZED' } } });
    expect(refused.body.error.message).toContain('owned by access');
    expect((await t.call('GET', '/v1/schemas/keyway.access.GrantIssued')).body.versions).toHaveLength(1);
    const deprecate = await t.call('POST', '/v1/schemas/keyway.access.GrantIssued/versions/1/deprecate', { sunset: '2030-01-01T00:00:00Z' }, notifyKey);
    expect(deprecate.status).toBe(403);
  });

  it('announces a deprecation as SchemaDeprecated and marks what is published with the deprecated version', async () => {
    const announced: Array<{ eventType: string; version: number; sunset?: string; actor: string }> = [];
    await t.hub.internals.bus.declareSubscriber({
      name: 'ops.schema-watch',
      account: 'ops',
      types: ['keyway.platform.SchemaDeprecated'],
      target: { kind: 'handler', handler: (e) => void announced.push(e.data as (typeof announced)[number]) },
    });
    for (const v of [1, 2]) expect((await t.call('POST', '/v1/schemas', { document: opsProbeSchema('Probe', v) })).status).toBe(201);
    const deprecated = await t.call('POST', '/v1/schemas/keyway.ops.Probe/versions/1/deprecate', { sunset: '2099-01-01', replacement: 'keyway.ops.Probe v2' });
    expect(deprecated.status).toBe(200);
    await until('the SchemaDeprecated event', () => announced.length === 1, 5000);
    expect(announced[0]).toMatchObject({ eventType: 'keyway.ops.Probe', version: 1, sunset: '2099-01-01T00:00:00.000Z' });
    const opsKey = (await t.call('POST', '/v1/accounts/ops/keys')).body.apiKey as string;
    const published = await t.call('POST', '/v1/events', { entries: [opsProbeEvent('Probe', 1, 'probe-1'), opsProbeEvent('Probe', 2, 'probe-2')] }, opsKey);
    expect(published.body.entries[0]).toMatchObject({ status: 'accepted', deprecated: { version: 1, sunset: '2099-01-01', replacement: 'keyway.ops.Probe v2' } });
    expect(published.body.entries[1].status).toBe('accepted');
    expect(published.body.entries[1].deprecated).toBeUndefined();
  });

  it('refuses webhook URLs that are not http(s) and retry or alarm settings out of bounds, naming the field', async () => {
    const opsKey = (await t.call('POST', '/v1/accounts/ops/keys')).body.apiKey as string;
    const base = { name: 'ops.bounds', types: ['keyway.device.Heartbeat'], webhook: { url: 'https://ops.example.net/hook', secret: 'a-very-long-secret' } };
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ webhook: { url: 'file:///etc/passwd', secret: 'a-very-long-secret' } }, 'url'],
      [{ retry: { maxAttempts: 1e300 } }, 'maxAttempts'],
      [{ retry: { maxAgeMs: 1e300 } }, 'maxAgeMs'],
      [{ alarms: { dlqDepth: -1 } }, 'dlqDepth'],
      [{ alarms: { failureRate: 1e308 } }, 'failureRate'],
      [{ alarms: { webhookUrl: 'not a url' } }, 'webhookUrl'],
    ];
    for (const [change, field] of cases) {
      const r = await t.call('POST', '/v1/subscribers', { ...base, ...change }, opsKey);
      expect(r, field).toMatchObject({ status: 400, body: { error: { code: 'INVALID_INPUT', message: expect.stringContaining(field) } } });
    }
    expect(await t.call('POST', '/v1/customers', { id: 'cust-js', webhookUrl: 'javascript:alert(1)', webhookSecret: 'a-very-long-secret' })).toMatchObject({ status: 400 });
    expect((await t.call('POST', '/v1/subscribers', base, opsKey)).status).toBe(201);
  });

  it('declares a webhook subscriber in the caller account and shows its DLQ', async () => {
    const opsKey = (await t.call('POST', '/v1/accounts/ops/keys')).body.apiKey as string;
    const declared = await t.call('POST', '/v1/subscribers', { name: 'ops.heartbeats', types: ['keyway.device.Heartbeat'], webhook: { url: 'http://127.0.0.1:9/hook', secret: 'a-very-long-secret' } }, opsKey);
    expect(declared).toMatchObject({ status: 201, body: { outcome: 'created' } });
    expect((await t.call('POST', '/v1/subscribers', { name: 'ops.heartbeats', types: ['keyway.device.Heartbeat'], webhook: { url: 'http://127.0.0.1:9/hook', secret: 'a-very-long-secret' } }, opsKey)).body.outcome).toBe('unchanged');
    expect((await t.call('GET', '/v1/subscribers/ops.heartbeats/dlq', undefined, opsKey)).body).toEqual({ items: [], next: null });
    const notifyKey = (await t.call('POST', '/v1/accounts/notify/keys')).body.apiKey as string;
    expect((await t.call('GET', '/v1/subscribers/ops.heartbeats/dlq', undefined, notifyKey)).status).toBe(403);
    const refused = await t.call('POST', '/v1/subscribers', { name: 'notify.grants', types: ['keyway.platform.UnauthorizedExchangeDetected'], webhook: { url: 'http://127.0.0.1:9/x', secret: 'a-very-long-secret' } }, notifyKey);
    expect(refused.body.error.code).toBe('UNAUTHORIZED');
  });

  it("refuses a declaration that would take over another account's subscriber (the delivery workflow's own) as 409 CONFLICT", async () => {
    const opsKey = (await t.call('POST', '/v1/accounts/ops/keys')).body.apiKey as string;
    const before = await t.call('GET', '/v1/subscribers/delivery.device-events');
    expect(before.status).toBe(200);
    const takeover = await t.call('POST', '/v1/subscribers', { name: 'delivery.device-events', types: ['keyway.device.Heartbeat'], webhook: { url: 'http://127.0.0.1:9/hook', secret: 'a-very-long-secret' } }, opsKey);
    expect(takeover).toMatchObject({ status: 409, body: { error: { code: 'CONFLICT', details: { subscriber: 'delivery.device-events' } } } });
    const list = (await t.call('GET', '/v1/subscribers')).body.items as Array<{ name: string; account: string }>;
    expect(list.find((s) => s.name === 'delivery.device-events')?.account).toBe('delivery');
    // Its stored declaration is untouched: still the door events, still no webhook.
    const stored = await t.hub.internals.busStore.getSubscriber('delivery.device-events');
    expect(stored?.account).toBe('delivery');
    expect(stored?.config).toContain('keyway.device.DoorStateChanged');
    expect(stored?.config).not.toContain('127.0.0.1:9');
  });

  it('refuses a subscriber whose transformer has a non-string path, a bad path or a template nested 10,000 deep, as 400 CONFIG_INVALID', async () => {
    const opsKey = (await t.call('POST', '/v1/accounts/ops/keys')).body.apiKey as string;
    const transforms = [
      { inputPaths: { a: { nested: 1 } }, template: '<a>' },
      { inputPaths: { a: 'data.x' }, template: '<a>' },
      { inputPaths: { a: '$.data.x' }, template: 'DEEP' },
    ];
    for (const [i, transform] of transforms.entries()) {
      // As text: JSON.stringify here could not serialize 10,000 levels.
      const body = JSON.stringify({ name: `ops.transformed-${i}`, types: ['keyway.device.Heartbeat'], webhook: { url: 'http://127.0.0.1:9/hook', secret: 'a-very-long-secret' }, transform });
      const r = await t.call('POST', '/v1/subscribers', body.replace('"DEEP"', `${'{"x":'.repeat(10_000)}"<a>"${'}'.repeat(10_000)}`), opsKey);
      expect({ i, status: r.status, code: r.body.error?.code }).toEqual({ i, status: 400, code: i === 0 ? 'INVALID_INPUT' : 'CONFIG_INVALID' });
    }
    const ok = await t.call('POST', '/v1/subscribers', { name: 'ops.transformed-ok', types: ['keyway.device.Heartbeat'], webhook: { url: 'http://127.0.0.1:9/hook', secret: 'a-very-long-secret' }, transform: { inputPaths: { a: '$.data.deviceId' }, template: { device: '<a>' } } }, opsKey);
    expect(ok.status).toBe(201);
  });
});
