/**
 * One vendor's devices flooding the gateway with batches must not hold up another vendor's: a vendor's batches are
 * processed at most `vendorConcurrency` at a time, and the rest wait in that vendor's own queue.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import type { GatewayBus } from '@keyway/hub/gateway';
import { batch, collect, connectDevice, startGatewayHub, waitFor, type GatewayHub } from './helpers.js';

describe('device gateway vendor isolation', () => {
  let hub: GatewayHub | undefined;
  const clients: MqttClient[] = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
    await hub?.close();
    hub = undefined;
  });

  it("processes at most vendorConcurrency batches of a flooding vendor at once, while another vendor's batch is acknowledged", async () => {
    // The bus holds every batch of vendor "bulk" until released, as a slow validation or commit would.
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let bulkInProgress = 0;
    let bulkMost = 0;
    const real: { bus?: GatewayBus } = {};
    const bus: GatewayBus = {
      async publishAs(account, entries) {
        const source = (entries[0] as { source?: string } | undefined)?.source ?? '';
        if (source.startsWith('keyway://device/bulk-')) {
          bulkInProgress += 1;
          bulkMost = Math.max(bulkMost, bulkInProgress);
          await released;
          bulkInProgress -= 1;
        }
        return real.bus!.publishAs(account, entries);
      },
    };
    const h = (hub = await startGatewayHub({ bus, limits: { vendorConcurrency: 2 } }));
    real.bus = h.hub.bus;
    const connect = async (id: string, vendor: string) => {
      const client = await connectDevice(h.url, id, await h.provision(id, vendor));
      clients.push(client);
      return { client, acks: await collect(client, `keyway/v1/d/${id}/down/ack`) };
    };
    const bulk = await Promise.all(['bulk-1', 'bulk-2', 'bulk-3', 'bulk-4'].map((id) => connect(id, 'bulk')));
    for (const [i, d] of bulk.entries()) await d.client.publishAsync(`keyway/v1/d/bulk-${i + 1}/up/events`, batch(`bulk-${i + 1}`, [1]), { qos: 1 });
    await waitFor(() => bulkInProgress === 2, 5_000, 'two bulk batches in progress');

    const other = await connect('garage-other', 'acme');
    await other.client.publishAsync('keyway/v1/d/garage-other/up/events', batch('garage-other', [1]), { qos: 1 });
    await waitFor(() => other.acks.length === 1, 5_000, "the other vendor's ack while bulk waits");
    expect(other.acks[0]).toMatchObject({ upTo: 1 });
    expect(bulk.every((d) => d.acks.length === 0)).toBe(true);
    expect(bulkMost).toBe(2);

    release();
    await waitFor(() => bulk.every((d) => d.acks.length === 1), 5_000, 'every bulk batch acknowledged once released');
    expect(bulkMost).toBe(2);
  });
});
