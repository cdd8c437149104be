import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTarget, type TestServer } from '../bus/helpers.js';
import { schedule, startWorld, step, until, untilState, type World } from './world.js';

let w: World;
beforeAll(async () => {
  w = await startWorld();
}, 30_000);
afterAll(async () => {
  await w?.stop();
});

describe('an in-garage delivery, end to end', () => {
  it('when the courier is granted access, arrives, unlocks and places the parcel, the door opens, closes after its warning, and the customer hears of each step', async () => {
    const scheduled = await schedule(w, 'happy-1');
    expect(scheduled.state).toBe('access-granted');
    await step(w, 'happy-1', 'arrived');
    const pressesBefore = w.site.garage.door.relayPressCount();
    await step(w, 'happy-1', 'unlock');
    await untilState(w, 'happy-1', 'door-open');
    expect(w.site.garage.door.position).toBe(1);
    await step(w, 'happy-1', 'package-placed');

    // The close never starts without the warning: the light is on while the door is still fully open.
    await until('the warning light', () => w.site.garage.chip.level(w.site.garage.pins.warning) === 1);
    expect(w.site.garage.door.position).toBe(1);
    const done = await untilState(w, 'happy-1', 'completed', 20_000);
    expect(w.site.garage.door.position).toBe(0);
    expect(w.site.garage.door.relayPressCount() - pressesBefore).toBe(2);
    expect(done.timeline.map((e: { step: string }) => e.step)).toEqual([
      'scheduled',
      'access granted',
      'courier arrived',
      'unlocking',
      'door open',
      'package placed',
      'closing after the warning',
      'completed',
    ]);

    const kinds = await until('the customer notifications', () => {
      const k = w.notifications.filter((n) => n.deliveryId === 'happy-1' || n.kind === 'door-opened').map((n) => n.kind);
      return k.includes('delivery-completed') ? k : undefined;
    });
    expect(kinds).toEqual(expect.arrayContaining(['courier-arrived', 'door-opened', 'delivery-completed']));
    expect(w.notifications.every((n) => n.signatureValid)).toBe(true);

    // The device's own events reached the bus: the door movements are attributed to the courier's command.
    const log = await w.t.hub.internals.busStore.readLog(0, Date.now() + 1000, { limit: 1000 });
    const doorEvents = log.filter((r) => r.type === 'keyway.device.DoorStateChanged').map((r) => JSON.parse(r.payload).data);
    expect(doorEvents.find((d) => d.state === 'opening')?.cause).toMatchObject({ kind: 'command', holder: 'courier-7' });
    // The close went without the courier's grant (the hub signs it), and the delivery's end revoked the grant.
    expect(doorEvents.find((d) => d.state === 'closing')?.cause).not.toHaveProperty('grantId');
    const grants = (await w.t.call('GET', `/v1/grants?deviceId=${w.deviceId}&limit=500`)).body.items as Array<{ id: string; revokedAt: number | null }>;
    expect(grants.find((g) => g.id === scheduled.grantId)?.revokedAt).toEqual(expect.any(Number));
  }, 60_000);

  it('refuses to unlock a delivery whose window has ended, as grant-expired', async () => {
    const now = Date.now();
    await schedule(w, 'late-1', { windowStart: new Date(now - 7200_000).toISOString(), windowEnd: new Date(now + 1500).toISOString() });
    await new Promise((r) => setTimeout(r, 2000));
    const failed = await step(w, 'late-1', 'unlock');
    expect(failed).toMatchObject({ state: 'failed', failureReason: 'grant-expired' });
  });

  it('refuses to schedule a window that has ended or lasts over 7 days, and to unlock before the window opens', async () => {
    const now = Date.now();
    const body = { customerId: 'customer-1', deviceId: w.deviceId, courierId: 'courier-7' };
    const past = await w.t.call('POST', '/v1/deliveries', { ...body, id: 'past-1', windowStart: new Date(now - 7200_000).toISOString(), windowEnd: new Date(now - 3600_000).toISOString() });
    expect(past).toMatchObject({ status: 400, body: { error: { code: 'INVALID_INPUT', message: expect.stringContaining('has not ended') } } });
    const long = await w.t.call('POST', '/v1/deliveries', { ...body, id: 'long-1', windowStart: new Date(now).toISOString(), windowEnd: new Date(now + 50 * 365 * 86_400_000).toISOString() });
    expect(long).toMatchObject({ status: 400, body: { error: { code: 'INVALID_INPUT', message: expect.stringContaining('at most 7 days') } } });
    expect((await w.t.call('GET', '/v1/deliveries/past-1')).status).toBe(404);
    await schedule(w, 'early-1', { windowStart: new Date(now + 3600_000).toISOString(), windowEnd: new Date(now + 7200_000).toISOString() });
    expect(await w.t.call('POST', '/v1/deliveries/early-1/unlock')).toMatchObject({ status: 409, body: { error: { code: 'CONFLICT', message: expect.stringContaining('window opens at') } } });
    expect((await w.t.call('GET', '/v1/deliveries/early-1')).body.state).toBe('access-granted');
    expect(await w.t.call('POST', '/v1/deliveries', { ...body, id: 'early-1', windowStart: new Date(now + 3600_000).toISOString(), windowEnd: new Date(now + 7200_000).toISOString() })).toMatchObject({ status: 409 });
  });

  it('a wall-button open does not move a delivery that has not started, and one delivery\'s unlock moves only that one', async () => {
    await schedule(w, 'mine-1');
    await schedule(w, 'other-1');
    // Someone at home opens and closes the door: no delivery moves (before, the newest one went to door-open and,
    // once the door closed, to completed with "your parcel is inside" sent to the customer).
    w.site.garage.door.pressWallButton();
    await until('the door open', () => w.site.garage.door.position === 1);
    await new Promise((r) => setTimeout(r, 500));
    w.site.garage.door.pressWallButton();
    await until('the door closed', () => w.site.garage.door.position === 0, 10_000);
    await new Promise((r) => setTimeout(r, 500));
    expect((await w.t.call('GET', '/v1/deliveries/mine-1')).body.state).toBe('access-granted');
    expect((await w.t.call('GET', '/v1/deliveries/other-1')).body.state).toBe('access-granted');
    // The older delivery's unlock opens the door for it, not for the newer one.
    await step(w, 'mine-1', 'unlock');
    await untilState(w, 'mine-1', 'door-open');
    expect((await w.t.call('GET', '/v1/deliveries/other-1')).body.state).toBe('access-granted');
    await step(w, 'mine-1', 'package-placed');
    await untilState(w, 'mine-1', 'completed', 20_000);
    expect((await w.t.call('GET', '/v1/deliveries/other-1')).body.state).toBe('access-granted');
  }, 60_000);

  it('fails as grant-expired when the window ends before the courier opens the door', async () => {
    await schedule(w, 'no-show-1', { windowEnd: new Date(Date.now() + 1500).toISOString() });
    const failed = await untilState(w, 'no-show-1', 'failed', 15_000);
    expect(failed.failureReason).toBe('grant-expired');
    expect(failed.timeline.at(-1)).toMatchObject({ step: 'failed: grant-expired' });
  }, 30_000);

  it("tells the delivery's own customer, not the garage's, when a delivery is for another tenant", async () => {
    const tenant: TestServer = await startTarget();
    try {
      expect((await w.t.call('POST', '/v1/customers', { id: 'customer-2', webhookUrl: tenant.url, webhookSecret: 'tenant-webhook-secret' })).status).toBe(201);
      await schedule(w, 'tenant-1', { customerId: 'customer-2' });
      await step(w, 'tenant-1', 'arrived');
      await until("the tenant's notification", () => tenant.requests.some((r) => (JSON.parse(r.body) as { deliveryId?: string }).deliveryId === 'tenant-1'));
      await new Promise((r) => setTimeout(r, 300));
      expect(w.notifications.filter((n) => n.deliveryId === 'tenant-1')).toEqual([]);
    } finally {
      await tenant.close();
    }
  });
});
