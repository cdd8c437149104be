import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Outbox, openAgentDatabase } from '@keyway/agent/outbox';
import { MqttConnector, SyncLoop } from '@keyway/agent/sync';
import { verifyTime } from '@keyway/shared/grants';
import { startGatewayHub, waitFor, type GatewayHub } from './helpers.js';

const at = '2026-11-28T10:00:00.000Z';

describe("the agent's own sync loop against the hub's gateway", () => {
  let hub: GatewayHub | undefined;
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
    await hub?.close();
    hub = undefined;
  });

  it("empties the agent's outbox into the bus exactly once and hands the agent verifiable hub time", async () => {
    const h = (hub = await startGatewayHub());
    const token = await h.provision('garage-1');
    const dir = mkdtempSync(join(tmpdir(), 'keyway-gw-agent-'));
    const db = openAgentDatabase(join(dir, 'agent.db'));
    const outbox = new Outbox(db, { deviceId: 'garage-1', caps: { maxRows: 100_000, maxBytes: 100_000_000 } });
    await outbox.start();
    const connector = new MqttConnector({ url: h.url, clientId: 'garage-1', username: 'garage-1', password: token, backoff: { baseMs: 50, capMs: 300 } });
    const times: string[] = [];
    const sync = new SyncLoop(outbox, connector, { deviceId: 'garage-1', batchMaxEvents: 100, maxInFlight: 4, ackTimeoutMs: 2_000, onHubTime: (t) => times.push(t) });
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }), () => void db.close(), () => outbox.stop(), () => connector.stop(), () => sync.stop());
    for (let i = 0; i < 6; i += 1) {
      outbox.appendMany(Array.from({ length: 100 }, (_, j) => ({ type: 'keyway.device.Heartbeat' as const, data: { deviceId: 'garage-1', uptimeS: i * 100 + j, at } })));
    }
    outbox.append('keyway.device.DoorStateChanged', { deviceId: 'garage-1', state: 'opening', previous: 'closed', at, cause: { kind: 'command', commandId: 'c-1' } });
    await sync.start();
    await connector.start();

    await waitFor(() => outbox.stats().depth === 0, 15_000, 'an empty outbox');
    await waitFor(() => h.seen.filter((e) => e.source === 'keyway://device/garage-1').length === 601, 10_000, '601 events on the bus');
    const ids = h.seen.filter((e) => e.source === 'keyway://device/garage-1').map((e) => e.id);
    expect(new Set(ids).size).toBe(601);
    expect(ids.map((id) => Number(id.slice('garage-1-'.length))).sort((a, b) => a - b)).toEqual(Array.from({ length: 601 }, (_, i) => i + 1));
    expect(sync.status().ackedSeq).toBe(601);
    expect(times.length).toBeGreaterThan(0);
    await expect(verifyTime(times.at(-1)!, h.publicKey, { deviceId: 'garage-1' })).resolves.toMatchObject({ aud: 'garage-1' });
  });
});
