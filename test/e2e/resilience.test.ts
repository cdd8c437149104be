import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openForCourier, schedule, startWorld, step, until, untilState, type World } from './world.js';

let w: World;
beforeAll(async () => {
  w = await startWorld();
}, 30_000);
afterAll(async () => {
  await w?.stop();
});

async function busTypes(type: string): Promise<any[]> {
  const rows = await w.t.hub.internals.busStore.readLog(0, Date.now() + 1000, { limit: 5000 });
  return rows.filter((r) => r.type === type).map((r) => JSON.parse(r.payload).data);
}

describe('when things fail around a delivery', () => {
  it('refuses a device that tries to use another device’s topics, and an unknown device, and raises a detection', async () => {
    const other = (await w.t.call('POST', '/v1/devices', { deviceId: 'garage-intruder', customerId: 'customer-2' })).body;
    const mqttUrl = w.t.hub.mqttUrl;
    const client = await mqtt.connectAsync(mqttUrl, { clientId: 'garage-intruder', username: 'garage-intruder', password: other.mqtt.password, reconnectPeriod: 0 });
    try {
      // The broker answers the SUBACK with failure (0x80), which mqtt.js reports as an error.
      await expect(client.subscribeAsync(`keyway/v1/d/${w.deviceId}/down/cmd`, { qos: 1 })).rejects.toThrow(/Subscribe error/);
      // QoS 0: a refused QoS 1 publish is never acknowledged, so there is nothing to wait for.
      await client.publishAsync(`keyway/v1/d/${w.deviceId}/up/events`, '{"v":1}', { qos: 0 });
      const detections = await until('the detections', async () => {
        const d = await busTypes('keyway.platform.UnauthorizedExchangeDetected');
        return d.filter((x) => x.deviceId === 'garage-intruder').length >= 2 ? d : undefined;
      });
      expect(detections.filter((x) => x.deviceId === 'garage-intruder').map((x) => x.kind)).toEqual(['device-topic', 'device-topic']);
    } finally {
      await client.endAsync();
    }
    await expect(mqtt.connectAsync(mqttUrl, { clientId: 'garage-ghost', username: 'garage-ghost', password: 'nope', reconnectPeriod: 0 })).rejects.toThrow();
    // The real garage was never disturbed.
    expect((await w.t.call('GET', `/v1/devices/${w.deviceId}`)).body.online).toBe(true);
  }, 30_000);

  it('survives a hub restart mid-delivery: the door-open state is kept and the delivery completes after it', async () => {
    await openForCourier(w, 'restart-1');
    await w.restartHub();
    expect((await w.t.call('GET', '/v1/deliveries/restart-1')).body.state).toBe('door-open');
    await until('the garage to reconnect', async () => (await w.t.call('GET', `/v1/devices/${w.deviceId}`)).body.online === true, 20_000);
    await step(w, 'restart-1', 'package-placed');
    const done = await untilState(w, 'restart-1', 'completed', 30_000);
    expect(done.timeline.filter((e: { step: string }) => e.step === 'completed')).toHaveLength(1);
  }, 60_000);

  it('lets the courier open an offline garage with the keypad PIN, and syncs every event once the network is back', async () => {
    await schedule(w, 'pin-1', { pin: '482913' });
    w.site.network.cut();
    try {
      await until('the hub to see the garage offline', async () => (await w.t.call('GET', `/v1/devices/${w.deviceId}`)).body.online === false, 15_000);
      const arrived = await step(w, 'pin-1', 'arrived');
      expect(arrived.state).toBe('courier-arrived');
      // A remote unlock cannot reach the garage; with a PIN the delivery goes on instead of failing.
      expect(await w.t.call('POST', '/v1/deliveries/pin-1/unlock')).toMatchObject({ status: 409, body: { error: { code: 'CONFLICT', message: expect.stringContaining('keypad PIN') } } });
      expect((await w.t.call('GET', '/v1/deliveries/pin-1')).body.state).toBe('courier-arrived');
      w.site.enterPin('000000');
      w.site.enterPin('482913');
      await until('the door to open offline', () => w.site.garage.door.position === 1 && !w.site.door.isBusy, 15_000);
      // Inside, the courier places the parcel and closes the door with the wall button.
      w.site.garage.door.pressWallButton();
      await until('the door to close', () => w.site.garage.door.position === 0, 15_000);
      expect((await w.t.call('GET', '/v1/deliveries/pin-1')).body.state).toBe('courier-arrived');
    } finally {
      w.site.network.restore();
    }
    const done = await untilState(w, 'pin-1', 'completed', 30_000);
    expect(done.timeline.map((e: { step: string }) => e.step)).toEqual(expect.arrayContaining(['door open', 'completed']));
    const entries = await busTypes('keyway.device.KeypadEntry');
    // Both PINs are checked concurrently (scrypt), so their events may land in either order.
    expect(entries.map((e) => e.result).sort()).toEqual(['accepted', 'rejected']);
    const used = await busTypes('keyway.access.GrantUsed');
    expect(used.filter((u) => u.via === 'keypad')).toHaveLength(1);
    // In log order (the device's sequence), not by the `at` stamps: offline, the agent stamps with its
    // trusted clock, which may be a second or two behind the hub's, and this run can take under 3 s.
    const doors = await busTypes('keyway.device.DoorStateChanged');
    const keypadOpening = doors.findLastIndex((d) => d.state === 'opening' && d.cause.kind === 'keypad');
    expect(keypadOpening).toBeGreaterThanOrEqual(0);
    expect(doors.slice(keypadOpening).find((d) => d.state === 'closing')?.cause.kind).toBe('wall-button');
    const seqs = (await w.t.hub.internals.busStore.readLog(0, Date.now() + 1000, { limit: 5000 })).filter((r) => r.dedupKey.startsWith(`keyway://device/${w.deviceId}`)).map((r) => r.dedupKey);
    expect(new Set(seqs).size).toBe(seqs.length);
  }, 60_000);
});
