import type { KeyObject } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import { signTime } from '@keyway/shared/grants';
import { WIRE_VERSION, type BatchMessage } from '../wire.js';

export interface ResponderOptions {
  url: string;
  /** Signs a time into every ack when set, like the real hub. */
  hubPrivateKey?: KeyObject;
  /** Only count, do not keep events (for the drain benchmark). */
  countOnly?: boolean;
  mqttOptions?: mqtt.IClientOptions;
}

/**
 * Test-only stand-in for the hub's device gateway: takes `up/events` batches, deduplicates by device and
 * sequence, records what it received, and acknowledges up to each batch's last sequence when the batch follows
 * what was acknowledged (the hub's rule in WIRE.md). Not product code.
 */
export class HubAckResponder {
  private client: MqttClient | undefined;
  /** Unique events per device in arrival order. */
  readonly received = new Map<string, Array<{ seq: number; type: string; id: string }>>();
  readonly seen = new Set<string>();
  duplicates = 0;
  uniqueCount = 0;
  batches = 0;
  /** When false, batches are recorded but not acknowledged (simulates a hub that is down after ingest). */
  acking = true;
  /** Highest sequence acknowledged per device. */
  private readonly ackedUpTo = new Map<string, number>();
  private readonly waiters = new Set<() => void>();

  constructor(private readonly options: ResponderOptions) {}

  async start(): Promise<void> {
    const client = await mqtt.connectAsync(this.options.url, { clientId: `hub-responder-${process.pid}-${Math.random().toString(16).slice(2)}`, reconnectPeriod: 200, ...this.options.mqttOptions });
    this.client = client;
    client.on('message', (topic, payload) => {
      void this.onBatch(topic, payload);
    });
    await client.subscribeAsync('keyway/v1/d/+/up/events', { qos: 1 });
  }

  async stop(): Promise<void> {
    await this.client?.endAsync();
    this.client = undefined;
  }

  count(deviceId: string): number {
    return this.received.get(deviceId)?.length ?? 0;
  }

  /** Resolves once `predicate` holds, checked after every batch. */
  async waitFor(predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
    if (predicate()) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`responder condition not met within ${timeoutMs} ms (unique=${this.uniqueCount}, batches=${this.batches})`));
      }, timeoutMs);
      const check = (): void => {
        if (!predicate()) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      this.waiters.add(check);
    });
  }

  private async onBatch(topic: string, payload: Buffer): Promise<void> {
    const deviceId = topic.split('/')[3] ?? '';
    // Plain JSON.parse plus shape checks: zod over every event would make this stand-in, not the agent, the bottleneck.
    let batch: BatchMessage;
    try {
      batch = JSON.parse(payload.toString('utf8')) as BatchMessage;
    } catch {
      return;
    }
    if (batch.v !== WIRE_VERSION || batch.deviceId !== deviceId || !Array.isArray(batch.events) || !Number.isInteger(batch.toSeq)) return;
    this.batches += 1;
    let list = this.received.get(deviceId);
    if (!list) this.received.set(deviceId, (list = []));
    for (const { seq, event } of batch.events) {
      const key = `${deviceId}\u0000${seq}`;
      if (this.seen.has(key)) {
        this.duplicates += 1;
        continue;
      }
      this.seen.add(key);
      this.uniqueCount += 1;
      if (!this.options.countOnly) list.push({ seq, type: String(event.type), id: String(event.id) });
    }
    if (this.acking && this.client) {
      // As the hub does (WIRE.md): acknowledge only a batch that follows what is vouched for or already
      // acknowledged; otherwise answer without progress, so a batch lost on the way (e.g. published to a
      // restarted broker before this subscriber was back) is resent, never skipped by a later ack.
      const base = Math.max(batch.acked ?? batch.fromSeq - 1, this.ackedUpTo.get(deviceId) ?? 0);
      const upTo = batch.fromSeq <= base + 1 ? Math.max(base, batch.toSeq) : base;
      this.ackedUpTo.set(deviceId, upTo);
      const time = this.options.hubPrivateKey ? await signTime({ t: Date.now(), aud: deviceId, ...(batch.timeNonce !== undefined ? { nonce: batch.timeNonce } : {}) }, this.options.hubPrivateKey) : undefined;
      await this.client.publishAsync(`keyway/v1/d/${deviceId}/down/ack`, JSON.stringify({ v: WIRE_VERSION, upTo, ...(time ? { time } : {}) }), { qos: 1 });
    }
    for (const waiter of [...this.waiters]) waiter();
  }
}
