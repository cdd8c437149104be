export type OfflineReason = 'last-will' | 'heartbeat-timeout' | 'disconnect';

export type PresenceChange =
  | { deviceId: string; online: true; at: number; firmware?: string }
  | { deviceId: string; online: false; at: number; reason: OfflineReason };

/**
 * Online/offline bookkeeping: a device is online from its first message (or `status` online) until its Last Will,
 * a disconnect, or `missed` heartbeat intervals without any message. Changes are reported once per transition.
 */
export class PresenceTracker {
  private readonly lastSeen = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly options: {
      heartbeatIntervalMs: number;
      missedHeartbeats: number;
      clock: () => number;
      changed: (change: PresenceChange) => void;
    },
  ) {}

  start(): void {
    // Sweeping a few times per interval bounds how late a timeout is noticed without a timer per device.
    const every = Math.max(50, Math.floor(this.options.heartbeatIntervalMs / 4));
    this.timer = setInterval(() => this.sweep(), every);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.lastSeen.clear();
  }

  isOnline(deviceId: string): boolean {
    return this.lastSeen.has(deviceId);
  }

  lastSeenAt(deviceId: string): number | undefined {
    return this.lastSeen.get(deviceId);
  }

  get onlineCount(): number {
    return this.lastSeen.size;
  }

  /** Any sign of life; brings an offline device online. */
  seen(deviceId: string, firmware?: string): void {
    const now = this.options.clock();
    const wasOnline = this.lastSeen.has(deviceId);
    this.lastSeen.set(deviceId, now);
    if (!wasOnline) this.options.changed({ deviceId, online: true, at: now, ...(firmware !== undefined ? { firmware } : {}) });
  }

  offline(deviceId: string, reason: OfflineReason): void {
    if (!this.lastSeen.delete(deviceId)) return;
    this.options.changed({ deviceId, online: false, at: this.options.clock(), reason });
  }

  sweep(): void {
    const deadline = this.options.clock() - this.options.heartbeatIntervalMs * this.options.missedHeartbeats;
    for (const [deviceId, at] of this.lastSeen) {
      if (at < deadline) this.offline(deviceId, 'heartbeat-timeout');
    }
  }
}
