import { describeError, type Logger } from '@keyway/shared';
import type { PresenceChange } from './presence.js';
import type { DeviceDirectory } from './types.js';

export interface PresenceWriterOptions {
  devices: DeviceDirectory;
  /** Publishes the DeviceOnline/DeviceOffline events of one batch (at most 10 changes), in order. */
  publish: (changes: readonly PresenceChange[]) => Promise<void>;
  log: Logger;
  /** How long changes gather before one write. Default 50 ms. */
  flushMs?: number;
}

const BUS_CHUNK = 10;

/**
 * Writes presence changes in batches: a connect storm of thousands of devices would otherwise cost one synchronous
 * registry write (an fsync with SQLite) and one bus commit per device, blocking the event loop for everyone.
 * The registry gets the last state per device (in one call when it offers `setDevicesOnline`); the bus gets every
 * change, ten to a publish, all chunks of a flush at once so the bus's group commit shares one fsync.
 */
export class PresenceWriter {
  private pending: PresenceChange[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(private readonly options: PresenceWriterOptions) {}

  add(change: PresenceChange): void {
    this.pending.push(change);
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.flushing = this.flushing.then(() => this.flush());
    }, this.options.flushMs ?? 50);
  }

  /** Writes whatever is pending and waits for earlier flushes. */
  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.flushing = this.flushing.then(() => this.flush());
    await this.flushing;
  }

  private async flush(): Promise<void> {
    const changes = this.pending;
    this.pending = [];
    if (changes.length === 0) return;
    const { devices, log } = this.options;
    const latest = new Map<string, PresenceChange>();
    for (const c of changes) latest.set(c.deviceId, c);
    const rows = [...latest.values()].map((c) => ({ id: c.deviceId, online: c.online, at: c.at }));
    try {
      if (devices.setDevicesOnline) await devices.setDevicesOnline(rows);
      else for (const r of rows) await devices.setDeviceOnline(r.id, r.online, r.at);
    } catch (error) {
      log.error({ devices: rows.length, err: describeError(error) }, 'storing device presence failed');
    }
    const chunks: PresenceChange[][] = [];
    for (let i = 0; i < changes.length; i += BUS_CHUNK) chunks.push(changes.slice(i, i + BUS_CHUNK));
    await Promise.all(chunks.map((chunk) => this.options.publish(chunk)));
  }
}
