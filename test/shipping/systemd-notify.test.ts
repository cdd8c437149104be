import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SystemdNotifier } from '../../scripts/package/systemd-notify.js';
import { canReceiveNotify, startNotifyReceiver, type NotifyReceiver } from './support/notify-socket.js';
import { waitUntil } from '../../scripts/support/until.js';

if (!canReceiveNotify) console.log('skipping the systemd notify tests: install the Debian packages python3 and systemd');

describe.skipIf(!canReceiveNotify)('systemd readiness and watchdog notifications', () => {
  let dir: string;
  let receiver: NotifyReceiver;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'keyway-notify-'));
    receiver = await startNotifyReceiver(dir);
  });
  afterEach(async () => {
    await receiver.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('when ready under a watchdog, it sends READY=1 and then pings WATCHDOG=1 at a third of the watchdog period', async () => {
    const notifier = new SystemdNotifier({ ...process.env, NOTIFY_SOCKET: receiver.path, WATCHDOG_USEC: '600000' });
    expect(notifier.pingIntervalMs).toBe(200);
    notifier.markReady();
    await waitUntil(() => receiver.messages.filter((m) => m.includes('WATCHDOG=1')).length >= 3);
    notifier.markStopping();
    await waitUntil(() => receiver.messages.some((m) => m.includes('STOPPING=1')));
    expect(receiver.messages[0]).toContain('READY=1');
    // No pings after stopping. Each message is its own child process, so a ping sent just before stopping may
    // land after STOPPING=1: let it arrive (an interval plus spawn time); a timer still running adds 2+ pings below.
    await new Promise((r) => setTimeout(r, 500));
    const pings = receiver.messages.filter((m) => m.includes('WATCHDOG=1')).length;
    await new Promise((r) => setTimeout(r, 500));
    expect(receiver.messages.filter((m) => m.includes('WATCHDOG=1')).length).toBe(pings);
  });

  it('without NOTIFY_SOCKET (not started by systemd) it sends nothing', async () => {
    const notifier = new SystemdNotifier({ PATH: process.env.PATH, WATCHDOG_USEC: '600000' });
    expect(notifier.enabled).toBe(false);
    notifier.markReady();
    await new Promise((r) => setTimeout(r, 400));
    notifier.stop();
    expect(receiver.messages).toEqual([]);
  });
});
