import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
  }, 60_000);

  it('refuses to unlock a delivery whose window has ended, as grant-expired', async () => {
    const now = Date.now();
    await schedule(w, 'late-1', { windowStart: new Date(now - 7200_000).toISOString(), windowEnd: new Date(now - 3600_000).toISOString() });
    const failed = await step(w, 'late-1', 'unlock');
    expect(failed).toMatchObject({ state: 'failed', failureReason: 'grant-expired' });
  });
});
