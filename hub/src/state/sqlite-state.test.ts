import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteHubState } from './sqlite-state.js';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

describe('the SQLite hub state', () => {
  it('writes a storm of presence changes in one transaction, keeping each device’s own state', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyway-state-'));
    dirs.push(dir);
    const state = new SqliteHubState(path.join(dir, 'state.db'));
    await state.init();
    for (let i = 0; i < 50; i++) {
      await state.insertDevice({ id: `g-${i}`, customerId: 'c', vendor: 'v', tokenHash: 'h', createdAt: 1, online: false, lastSeenAt: null, reported: null });
    }
    await state.setDevicesOnline(Array.from({ length: 50 }, (_, i) => ({ id: `g-${i}`, online: i % 2 === 0, at: 1000 + i })));
    const devices = await state.listDevices({ limit: 100 });
    expect(devices.filter((d) => d.online).map((d) => d.id).sort()).toEqual(Array.from({ length: 25 }, (_, i) => `g-${i * 2}`).sort());
    expect((await state.getDevice('g-7'))?.lastSeenAt).toBe(1007);
    await state.close();
  });
});
