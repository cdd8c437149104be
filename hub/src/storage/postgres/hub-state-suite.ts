import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAX_REFUSED_PER_DEVICE, type DeliveryRecord, type DeviceRecord, type GrantRecord, type HubStateStore } from '../../state/types.js';

/**
 * The behaviour every hub state backend must show, run against SQLite and PostgreSQL alike.
 * `makeStore` returns a fresh, empty store (not yet initialised).
 */
export function describeHubState(name: string, makeStore: () => Promise<HubStateStore>): void {
  describe(`HubStateStore contract: ${name}`, () => {
    let store: HubStateStore;
    const T0 = 1_700_000_000_000;

    const device = (id: string, extra: Partial<DeviceRecord> = {}): DeviceRecord => ({
      id,
      customerId: 'c1',
      vendor: 'acme',
      tokenHash: `hash-${id}`,
      createdAt: T0,
      online: false,
      lastSeenAt: null,
      reported: null,
      ...extra,
    });
    const grant = (id: string, extra: Partial<GrantRecord> = {}): GrantRecord => ({
      id,
      deviceId: 'd1',
      holder: 'courier-1',
      deliveryId: 'del-1',
      validFrom: T0,
      validUntil: T0 + 3_600_000,
      actions: ['open', 'close'],
      maxUses: 2,
      hasPin: true,
      token: `token-${id}`,
      createdAt: T0,
      revokedAt: null,
      uses: 0,
      ...extra,
    });
    const delivery = (id: string, extra: Partial<DeliveryRecord> = {}): DeliveryRecord => ({
      id,
      customerId: 'c1',
      deviceId: 'd1',
      courierId: 'courier-1',
      windowStart: T0,
      windowEnd: T0 + 3_600_000,
      parcelRef: null,
      state: 'scheduled',
      grantId: null,
      commandId: null,
      closeAttempts: 0,
      failureReason: null,
      deadline: null,
      outbox: [{ type: 'keyway.delivery.DeliveryScheduled' }],
      version: 1,
      createdAt: T0,
      updatedAt: T0,
      timeline: [{ at: T0, step: 'scheduled', detail: { by: 'api' } }],
      ...extra,
    });

    beforeEach(async () => {
      store = await makeStore();
      await store.init();
    });
    afterEach(async () => {
      await store.close();
    });

    it('stores a customer and replaces its webhook on a second put', async () => {
      await store.putCustomer({ id: 'c1', webhookUrl: 'http://a', webhookSecret: 's', createdAt: T0 });
      await store.putCustomer({ id: 'c1', webhookUrl: 'http://b', webhookSecret: null, createdAt: T0 + 5 });
      expect(await store.getCustomer('c1')).toEqual({
        id: 'c1',
        webhookUrl: 'http://b',
        webhookSecret: null,
        createdAt: T0,
      });
      expect(await store.getCustomer('c2')).toBeUndefined();
    });

    it('stores devices, pages through them by id, and keeps their online flag and reported state', async () => {
      for (const id of ['d3', 'd1', 'd2']) await store.insertDevice(device(id));
      const first = await store.listDevices({ limit: 2 });
      const rest = await store.listDevices({ limit: 2, after: first[first.length - 1]!.id });
      expect([...first, ...rest].map((d) => d.id)).toEqual(['d1', 'd2', 'd3']);
      await store.setDeviceOnline('d1', true, T0 + 10);
      await store.setDeviceReported('d1', { door: 'closed', outbox: 3 }, T0 + 20);
      expect(await store.getDevice('d1')).toEqual(
        device('d1', { online: true, lastSeenAt: T0 + 20, reported: { door: 'closed', outbox: 3 } }),
      );
      await store.setDeviceOnline('d1', false, T0 + 30);
      expect(await store.getDevice('d1')).toMatchObject({ online: false, lastSeenAt: T0 + 30 });
      expect(await store.getDevice('nope')).toBeUndefined();
    });

    it('refuses a second device with the same id, writing nothing', async () => {
      expect(await store.insertDevice(device('d1'))).toBe(true);
      expect(await store.insertDevice({ ...device('d1'), customerId: 'someone-else' })).toBe(false);
      expect((await store.getDevice('d1'))?.customerId).toBe(device('d1').customerId);
    });

    it('stores grants, filters them by device and delivery, counts uses, and keeps the first revocation time', async () => {
      await store.insertGrant(grant('g1'));
      await store.insertGrant(grant('g2', { deviceId: 'd2', deliveryId: null, hasPin: false, actions: ['open'] }));
      expect(await store.getGrant('g2')).toEqual(
        grant('g2', { deviceId: 'd2', deliveryId: null, hasPin: false, actions: ['open'] }),
      );
      expect((await store.listGrants({ deviceId: 'd1' }, { limit: 10 })).map((g) => g.id)).toEqual(['g1']);
      expect((await store.listGrants({ deliveryId: 'del-1' }, { limit: 10 })).map((g) => g.id)).toEqual(['g1']);
      expect((await store.listGrants({}, { limit: 10, after: 'g1' })).map((g) => g.id)).toEqual(['g2']);
      await store.recordGrantUse('g1');
      await store.recordGrantUse('g1');
      expect((await store.getGrant('g1'))!.uses).toBe(2);
      expect((await store.revokeGrant('g1', T0 + 100))!.revokedAt).toBe(T0 + 100);
      expect((await store.revokeGrant('g1', T0 + 200))!.revokedAt).toBe(T0 + 100);
      expect(await store.revokeGrant('nope', T0)).toBeUndefined();
    });

    it('advances a delivery only from the version it was read at', async () => {
      const d = delivery('del-1');
      await store.insertDelivery(d);
      expect(await store.getDelivery('del-1')).toEqual(d);
      const next: DeliveryRecord = { ...d, state: 'access-granted', version: 2, outbox: [], updatedAt: T0 + 1 };
      expect(await store.updateDelivery(next)).toBe(true);
      // a second writer that read version 1 too loses
      expect(await store.updateDelivery({ ...d, state: 'failed', version: 2 })).toBe(false);
      expect(await store.getDelivery('del-1')).toEqual(next);
    });

    it('lists deliveries by device and state in id order', async () => {
      await store.insertDelivery(delivery('del-2'));
      await store.insertDelivery(delivery('del-1', { deviceId: 'd2' }));
      await store.insertDelivery(delivery('del-3', { state: 'completed' }));
      expect((await store.listDeliveries({ deviceId: 'd1' }, { limit: 10 })).map((d) => d.id)).toEqual([
        'del-2',
        'del-3',
      ]);
      expect((await store.listDeliveries({ state: 'scheduled' }, { limit: 10 })).map((d) => d.id)).toEqual([
        'del-1',
        'del-2',
      ]);
      expect((await store.listDeliveries({}, { limit: 1, after: 'del-1' })).map((d) => d.id)).toEqual(['del-2']);
    });

    it('keeps refused device events with their bodies, replaces a repeated seq, pages, deletes and trims the oldest past the cap', async () => {
      const row = (seq: number, code = 'UNKNOWN_SCHEMA_VERSION') => ({ deviceId: 'dev-r', seq, code, message: `m${seq}`, payload: `{"seq":${seq}}`, at: T0 + seq });
      expect(await store.keepRefusedEvents([row(3), row(1), { ...row(9), deviceId: 'dev-other' }])).toBe(0);
      expect(await store.keepRefusedEvents([row(3, 'CONFLICT')])).toBe(0);
      expect(await store.listRefusedEvents('dev-r', { limit: 10 })).toEqual([row(1), row(3, 'CONFLICT')]);
      expect((await store.listRefusedEvents('dev-r', { limit: 10, after: 1 })).map((r) => r.seq)).toEqual([3]);
      await store.deleteRefusedEvents('dev-r', [1]);
      expect((await store.listRefusedEvents('dev-r', { limit: 10 })).map((r) => r.seq)).toEqual([3]);
      const many = Array.from({ length: MAX_REFUSED_PER_DEVICE }, (_, i) => row(100 + i));
      expect(await store.keepRefusedEvents(many)).toBe(1);
      const kept = await store.listRefusedEvents('dev-r', { limit: 2 });
      expect(kept.map((r) => r.seq)).toEqual([100, 101]);
      expect((await store.listRefusedEvents('dev-other', { limit: 10 })).map((r) => r.seq)).toEqual([9]);
    });

    it('lets one request claim an idempotency key, answers the others running then done, and frees a failed or stale claim', async () => {
      const claims = await Promise.all([1, 2, 3].map(() => store.claimIdempotent('api', 'k1', T0, 60_000)));
      expect(claims.map((c) => c.kind).sort()).toEqual(['claimed', 'running', 'running']);
      await store.completeIdempotent('api', 'k1', '{"n":1}');
      expect(await store.claimIdempotent('api', 'k1', T0 + 1, 60_000)).toEqual({ kind: 'done', response: '{"n":1}' });
      expect(await store.claimIdempotent('other', 'k1', T0 + 2, 60_000)).toEqual({ kind: 'claimed' });
      // A failed request releases its claim: the retry runs.
      await store.releaseIdempotent('other', 'k1');
      expect(await store.claimIdempotent('other', 'k1', T0 + 3, 60_000)).toEqual({ kind: 'claimed' });
      // A claim whose request never finished is taken over once stale, by one claimant only.
      expect(await store.claimIdempotent('other', 'k1', T0 + 30_000, 60_000)).toEqual({ kind: 'running' });
      const late = await Promise.all([1, 2].map(() => store.claimIdempotent('other', 'k1', T0 + 70_000, 60_000)));
      expect(late.map((c) => c.kind).sort()).toEqual(['claimed', 'running']);
      // A release never drops a finished response.
      await store.releaseIdempotent('api', 'k1');
      expect(await store.claimIdempotent('api', 'k1', T0 + 80_000, 60_000)).toEqual({ kind: 'done', response: '{"n":1}' });
      // Purged once old: the key can be used again ('other' k1 was taken over at T0 + 70 s, so it stays).
      expect(await store.purgeIdempotent(T0 + 60_000)).toBe(1);
      expect(await store.claimIdempotent('api', 'k1', T0 + 90_000, 60_000)).toEqual({ kind: 'claimed' });
      expect(await store.claimIdempotent('other', 'k1', T0 + 90_000, 60_000)).toEqual({ kind: 'running' });
    });
  });
}
