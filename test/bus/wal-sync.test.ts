import { fdatasync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteBusStore } from '@keyway/hub/storage';
import { scheduled, startBus } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'keyway-bus-walsync-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('bus publish and the WAL fdatasync', () => {
  it('when the fdatasync of the bus log fails, the publisher gets an error instead of an acknowledgement', async () => {
    let failing = false;
    const store = new SqliteBusStore({
      path: join(dir, 'failing.db'),
      syncWal: (fd, done) => {
        if (failing) done(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
        else fdatasync(fd, done);
      },
    });
    const hub = await startBus({ store });
    try {
      await hub.bus.createAccount('delivery');
      const key = await hub.bus.issueApiKey('delivery');
      const [before] = await hub.bus.publish(key, [scheduled()]);
      expect(before).toMatchObject({ status: 'accepted' });

      failing = true;
      const event = scheduled();
      const [after] = await hub.bus.publish(key, [event]);
      expect(after).toMatchObject({ status: 'rejected', error: { code: 'UNAVAILABLE' } });
      expect(after).not.toHaveProperty('seq');
    } finally {
      await hub.close();
    }
  });
});
