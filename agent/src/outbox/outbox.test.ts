import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openAgentDatabase, type AgentDatabase } from './database.js';
import { Outbox } from './outbox.js';

const at = '2026-11-28T10:00:00.000Z';
const heartbeat = (n: number) => ({ deviceId: 'garage-1', uptimeS: n, at });
const door = { deviceId: 'garage-1', state: 'opening', previous: 'closed', at, cause: { kind: 'keypad' } } as const;

describe('Outbox', () => {
  let dir: string;
  let db: AgentDatabase;
  let outbox: Outbox;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'keyway-outbox-'));
    db = openAgentDatabase(join(dir, 'agent.db'));
    outbox = new Outbox(db, { deviceId: 'garage-1', caps: { maxRows: 10, maxBytes: 1_000_000 } });
    await outbox.start();
  });
  afterEach(async () => {
    await outbox.stop();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('assigns strictly increasing sequence numbers and ids of the form <deviceId>-<seq>', () => {
    const a = outbox.append('keyway.device.Heartbeat', heartbeat(1));
    const b = outbox.append('keyway.device.DoorStateChanged', door);
    expect(b.seq).toBe(a.seq + 1);
    const envelope = JSON.parse(b.payload) as { id: string; source: string; dataschema: string };
    expect(envelope.id).toBe(`garage-1-${b.seq}`);
    expect(envelope.source).toBe('keyway://device/garage-1');
    expect(envelope.dataschema).toMatch(/DoorStateChanged\.v2\.json$/);
  });

  it('refuses an event whose data does not match its schema, and keeps no row for it', () => {
    expect(() => outbox.append('keyway.device.Heartbeat', { deviceId: 'garage-1', uptimeS: -1, at })).toThrow(/uptimeS/);
    expect(outbox.stats().depth).toBe(0);
    expect(outbox.append('keyway.device.Heartbeat', heartbeat(1)).seq).toBe(1);
  });

  it('reads batches in sequence order and removes rows only when acknowledged', () => {
    for (let i = 0; i < 5; i++) outbox.append('keyway.device.Heartbeat', heartbeat(i));
    const batch = outbox.readBatch(0, 3);
    expect(batch.map((r) => r.seq)).toEqual([1, 2, 3]);
    expect(outbox.readBatch(3, 10).map((r) => r.seq)).toEqual([4, 5]);
    expect(outbox.ackUpTo(3)).toBe(3);
    expect(outbox.stats()).toMatchObject({ depth: 2, firstSeq: 4, lastSeq: 5 });
  });

  it('never reuses a sequence number after rows are acknowledged and the outbox is reopened', async () => {
    for (let i = 0; i < 3; i++) outbox.append('keyway.device.Heartbeat', heartbeat(i));
    outbox.ackUpTo(3);
    await outbox.stop();
    outbox = new Outbox(db, { deviceId: 'garage-1', caps: { maxRows: 10, maxBytes: 1_000_000 } });
    await outbox.start();
    expect(outbox.append('keyway.device.Heartbeat', heartbeat(9)).seq).toBe(4);
  });

  it('when the row cap is reached, drops only the oldest heartbeats and reports the drop once', () => {
    for (let i = 0; i < 4; i++) outbox.append('keyway.device.Heartbeat', heartbeat(i));
    for (let i = 0; i < 6; i++) outbox.append('keyway.device.DoorStateChanged', door);
    for (let i = 10; i < 13; i++) outbox.append('keyway.device.Heartbeat', heartbeat(i));
    const rows = outbox.readBatch(0, 100);
    const types = rows.map((r) => r.type);
    expect(types.filter((t) => t === 'keyway.device.DoorStateChanged')).toHaveLength(6);
    const drops = rows.filter((r) => r.type === 'keyway.device.EventsDropped');
    expect(drops).toHaveLength(1);
    const dropData = (JSON.parse(drops[0]!.payload) as { data: { count: number; fromSeq: number } }).data;
    expect(dropData.count).toBe(outbox.stats().droppedTotal);
    expect(dropData.fromSeq).toBe(1);
    expect(rows.length).toBe(10);
    // The newest heartbeat survives, the oldest went first.
    const heartbeats = rows.filter((r) => r.type === 'keyway.device.Heartbeat').map((r) => r.seq);
    expect(heartbeats).toContain(13 + 1);
    expect(heartbeats).not.toContain(1);
  });

  it('keeps every door event beyond the cap when nothing droppable is left', () => {
    for (let i = 0; i < 15; i++) outbox.append('keyway.device.DoorStateChanged', door);
    expect(outbox.stats().depth).toBe(15);
    expect(outbox.stats().droppedTotal).toBe(0);
  });

  it('a byte cap drops heartbeats just like a row cap', async () => {
    await outbox.stop();
    outbox = new Outbox(db, { deviceId: 'garage-1', caps: { maxRows: 1_000, maxBytes: 3_000 } });
    await outbox.start();
    for (let i = 0; i < 40; i++) outbox.append('keyway.device.Heartbeat', heartbeat(i));
    expect(outbox.stats().bytes).toBeLessThanOrEqual(3_000);
    expect(outbox.stats().droppedTotal).toBeGreaterThan(0);
  });
});

describe('stored rows', () => {
  it('rebuild exactly the envelope createEvent produced', async () => {
    const { createEvent } = await import('@keyway/shared/client');
    const { envelopeText } = await import('./envelope-text.js');
    const time = new Date('2026-11-28T10:00:00.123Z');
    const data = { deviceId: 'garage-1', state: 'opening', previous: 'closed', at, cause: { kind: 'keypad', grantId: 'g-1' } } as const;
    const event = createEvent('keyway.device.DoorStateChanged', data, { source: 'keyway://device/garage-1', id: 'garage-1-7', subject: 'garage-1', time });
    expect(envelopeText('garage-1', 7, event.type, 2, time.getTime(), JSON.stringify(event.data))).toBe(JSON.stringify(event));
  });
});
