import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { QueueStats } from '../storage/types.js';

/** Reads live queue figures for the gauges at scrape time. */
export type StatsSource = () => Promise<ReadonlyMap<string, QueueStats & { circuitOpen: boolean }>>;

/** The bus's Prometheus metrics, in a Registry the bus owns (the API serves it at /metrics). */
export class BusMetrics {
  readonly registry = new Registry();
  readonly delivered: Counter<'subscriber'>;
  readonly failed: Counter<'subscriber'>;
  readonly retried: Counter<'subscriber'>;
  readonly deadLettered: Counter<'subscriber'>;
  readonly latency: Histogram<'subscriber'>;
  readonly ingested: Counter<'result'>;
  readonly ingestErrors: Counter<'code'>;
  readonly unauthorized: Counter<'kind' | 'account'>;
  readonly alarms: Gauge<'subscriber' | 'metric'>;

  constructor(stats: StatsSource, clock: () => number) {
    const registers = [this.registry];
    const bySubscriber = ['subscriber'] as const;
    this.delivered = new Counter({
      name: 'keyway_bus_delivered_total',
      help: 'Deliveries that succeeded',
      labelNames: bySubscriber,
      registers,
    });
    this.failed = new Counter({
      name: 'keyway_bus_delivery_failed_total',
      help: 'Delivery attempts that failed',
      labelNames: bySubscriber,
      registers,
    });
    this.retried = new Counter({
      name: 'keyway_bus_retried_total',
      help: 'Failed attempts scheduled for a retry',
      labelNames: bySubscriber,
      registers,
    });
    this.deadLettered = new Counter({
      name: 'keyway_bus_dead_lettered_total',
      help: 'Deliveries moved to the DLQ',
      labelNames: bySubscriber,
      registers,
    });
    this.latency = new Histogram({
      name: 'keyway_bus_delivery_latency_seconds',
      help: 'From ingestion to successful delivery',
      labelNames: bySubscriber,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.ingested = new Counter({
      name: 'keyway_bus_ingested_total',
      help: 'Published entries by result',
      labelNames: ['result'],
      registers,
    });
    this.ingestErrors = new Counter({
      name: 'keyway_bus_ingest_errors_total',
      help: 'Rejected entries by error code',
      labelNames: ['code'],
      registers,
    });
    this.unauthorized = new Counter({
      name: 'keyway_bus_unauthorized_exchange_total',
      help: 'Refused publish/subscribe attempts',
      labelNames: ['kind', 'account'],
      registers,
    });
    this.alarms = new Gauge({
      name: 'keyway_bus_alarm_raised',
      help: '1 while an alarm is raised',
      labelNames: ['subscriber', 'metric'],
      registers,
    });

    let cache: { at: number; value: Promise<ReadonlyMap<string, QueueStats & { circuitOpen: boolean }>> } | undefined;
    // the four queue gauges share one store read per scrape
    const read = () => {
      const now = clock();
      if (!cache || now - cache.at > 250) cache = { at: now, value: stats() };
      return cache.value;
    };
    const gauge = (
      name: string,
      help: string,
      pick: (s: QueueStats & { circuitOpen: boolean }, now: number) => number,
    ) =>
      new Gauge({
        name,
        help,
        labelNames: bySubscriber,
        registers,
        async collect() {
          const all = await read();
          const now = clock();
          this.reset();
          for (const [subscriber, s] of all) this.set({ subscriber }, pick(s, now));
        },
      });
    gauge('keyway_bus_queue_depth', 'Live deliveries waiting, retrying or in flight', (s) => s.queued);
    gauge('keyway_bus_in_flight', 'Deliveries being attempted now', (s) => s.inFlight);
    gauge('keyway_bus_dlq_depth', 'Dead-lettered deliveries', (s) => s.dead);
    gauge('keyway_bus_oldest_message_age_seconds', 'Age of the oldest live delivery', (s, now) =>
      s.oldestEnqueuedAt === null ? 0 : (now - s.oldestEnqueuedAt) / 1000,
    );
    gauge('keyway_bus_circuit_open', '1 while the target circuit is open or half-open', (s) => (s.circuitOpen ? 1 : 0));
  }
}
