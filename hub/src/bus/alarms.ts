import { describeError, type Logger } from '@keyway/shared';
import type { AlarmRaisedV1Data } from '@keyway/shared/generated';
import type { BusStore } from '../storage/types.js';
import type { BusMetrics } from './metrics.js';
import type { SubscriberSet } from './subscribers.js';
import type { AlarmThresholds } from './types.js';

type AlarmMetric = AlarmRaisedV1Data['metric'];

const THRESHOLD_OF: Record<AlarmMetric, keyof Omit<AlarmThresholds, 'webhookUrl'>> = {
  'dlq-depth': 'dlqDepth',
  'queue-depth': 'queueDepth',
  'oldest-age-ms': 'oldestAgeMs',
  'failure-rate': 'failureRate',
  'p90-latency-ms': 'p90LatencyMs',
};

export interface AlarmMonitorDeps {
  store: BusStore;
  subscribers: SubscriberSet;
  metrics: BusMetrics;
  log: Logger;
  clock: () => number;
  intervalMs: number;
  /** Publishes the AlarmRaised event (state raised or cleared). */
  emit: (alarm: AlarmRaisedV1Data) => Promise<void>;
  /** Default webhook for every alarm, besides a subscriber's own. */
  webhookUrl: string | undefined;
}

function p90(samples: readonly number[]): number {
  if (samples.length === 0) return 0;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.9) - 1)] ?? 0;
}

/**
 * Evaluates each subscriber's thresholds at a fixed interval. An alarm raises when its figure
 * goes above the threshold and clears when it is back at or below it; each change is published
 * as keyway.platform.AlarmRaised and posted to the alarm webhook when one is set.
 */
export class AlarmMonitor {
  private readonly raised = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private evaluating: Promise<void> | undefined;

  constructor(private readonly deps: AlarmMonitorDeps) {}

  start(): void {
    this.timer = setInterval(() => void this.evaluate(), this.deps.intervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.evaluating;
  }

  /** One evaluation of every subscriber (also called by tests to avoid waiting for the interval). */
  evaluate(): Promise<void> {
    this.evaluating ??= this.evaluateAll().finally(() => {
      this.evaluating = undefined;
    });
    return this.evaluating;
  }

  private async evaluateAll(): Promise<void> {
    for (const name of this.deps.subscribers.names()) {
      const active = this.deps.subscribers.get(name);
      if (!active) continue;
      const window = active.worker.takeWindow();
      const thresholds = active.declaration.alarms;
      if (!thresholds) continue;
      try {
        const now = this.deps.clock();
        const stats = await this.deps.store.stats(name, now);
        const attempts = window.delivered + window.failed;
        // A window without attempts says nothing about failures or latency (an open circuit sends one probe per few
        // seconds): those alarms keep their state rather than clearing for lack of evidence.
        const values: Record<AlarmMetric, number | undefined> = {
          'dlq-depth': stats.dead,
          'queue-depth': stats.queued,
          'oldest-age-ms': stats.oldestEnqueuedAt === null ? 0 : now - stats.oldestEnqueuedAt,
          'failure-rate': attempts === 0 ? undefined : window.failed / attempts,
          'p90-latency-ms': window.latenciesMs.length === 0 ? undefined : p90(window.latenciesMs),
        };
        for (const metric of Object.keys(THRESHOLD_OF) as AlarmMetric[]) {
          const threshold = thresholds[THRESHOLD_OF[metric]];
          const value = values[metric];
          if (threshold === undefined || value === undefined) continue;
          await this.transition(name, metric, threshold, value, thresholds.webhookUrl, now);
        }
      } catch (error) {
        this.deps.log.error({ subscriber: name, err: describeError(error) }, 'alarm evaluation failed');
      }
    }
  }

  private async transition(
    subscriber: string,
    metric: AlarmMetric,
    threshold: number,
    value: number,
    webhookUrl: string | undefined,
    now: number,
  ): Promise<void> {
    const alarm = `${subscriber}.${metric}`;
    const above = value > threshold;
    if (above === this.raised.has(alarm)) return;
    if (above) this.raised.add(alarm);
    else this.raised.delete(alarm);
    this.deps.metrics.alarms.set({ subscriber, metric }, above ? 1 : 0);
    const data: AlarmRaisedV1Data = {
      alarm,
      subscriber,
      metric,
      threshold,
      value,
      state: above ? 'raised' : 'cleared',
      at: new Date(now).toISOString(),
    };
    this.deps.log.warn(data, `alarm ${alarm} ${data.state}`);
    await this.deps.emit(data);
    for (const url of new Set([webhookUrl, this.deps.webhookUrl])) {
      if (url) await this.post(url, data);
    }
  }

  private async post(url: string, data: AlarmRaisedV1Data): Promise<void> {
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(data),
        signal: AbortSignal.timeout(2_000),
      });
      await res.arrayBuffer();
      if (!res.ok) this.deps.log.warn({ url, status: res.status }, 'alarm webhook refused the alarm');
    } catch (error) {
      this.deps.log.warn({ url, err: describeError(error) }, 'alarm webhook unreachable');
    }
  }
}
