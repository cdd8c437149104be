/**
 * The bus on SQLite and on PostgreSQL side by side (not a timed test), same in-process scenario for both:
 * 1. fixed rate: BENCH_RATE events/s (default 1000) for BENCH_SECONDS (default 5), one event per publish, to an
 *    in-process handler subscriber (concurrency 64): publish-to-handler latency p50/p90/p99;
 * 2. throughput: BENCH_TOTAL events (default 20000) as fast as the store takes them, batches of 10 with up to 16
 *    publishes in flight: events/s from the first publish until the handler has the last event, and latencies.
 * Durable on both: SQLite WAL, each acknowledgement after an fdatasync of the WAL that holds its commit
 * (hub/src/storage/wal-sync.ts); PostgreSQL fsync=on, synchronous_commit=on, every acknowledgement after COMMIT. PostgreSQL is a throwaway local server (Debian package `postgresql`) unless BENCH_DATABASE_URL is set.
 * Run: npm run bench:bus-compare   (BENCH_ONLY=sqlite|postgres to run one backend)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createEvent } from '@keyway/shared/client';
import { SchemaRegistry } from '@keyway/shared/registry';
import { Bus } from '@keyway/hub/bus';
import { SqliteBusStore, type BusStore } from '@keyway/hub/storage';
import { PostgresBusStore } from '@keyway/hub/storage/postgres';
import { startPostgres, postgresAvailable, POSTGRES_MISSING, type PostgresServer } from '../../hub/src/storage/postgres/test-server.js';

process.env.KEYWAY_LOG_LEVEL ??= 'error';
const RATE = Number(process.env.BENCH_RATE ?? 1000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const TOTAL = Number(process.env.BENCH_TOTAL ?? 20_000);
const ONLY = process.env.BENCH_ONLY;
const registry = SchemaRegistry.fromEmbedded();

let seq = 0;
function event(): ReturnType<typeof createEvent<'keyway.delivery.DeliveryScheduled'>> {
  seq += 1;
  return createEvent(
    'keyway.delivery.DeliveryScheduled',
    { deliveryId: `d-${seq}`, customerId: 'cust-1', deviceId: `garage-${seq % 500}`, courierId: 'courier-7', windowStart: '2026-11-28T10:00:00.000Z', windowEnd: '2026-11-28T12:00:00.000Z' },
    { source: 'keyway://service/delivery', subject: `garage-${seq % 500}` },
  );
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
const round = (x: number): number => Math.round(x * 100) / 100;

interface Figures {
  n: number;
  lost: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
}

function figures(latencies: number[], accepted: number): Figures {
  const sorted = latencies.slice().sort((a, b) => a - b);
  return { n: sorted.length, lost: Math.max(0, accepted - sorted.length), p50Ms: round(percentile(sorted, 50)), p90Ms: round(percentile(sorted, 90)), p99Ms: round(percentile(sorted, 99)) };
}

/** A fresh bus on a fresh store with one handler subscriber recording publish-to-handler latency. */
async function withBus<T>(makeStore: () => BusStore, run: (bus: Bus, sent: Map<string, number>, latencies: number[]) => Promise<T>): Promise<T> {
  const bus = new Bus({ store: makeStore(), validator: registry, alarmIntervalMs: 60_000 });
  await bus.start();
  const sent = new Map<string, number>();
  const latencies: number[] = [];
  await bus.declareSubscriber({
    name: 'svc',
    account: 'notify',
    types: ['keyway.delivery.DeliveryScheduled'],
    concurrency: 64,
    target: {
      kind: 'handler',
      handler: (e) => {
        const t0 = sent.get(e.id);
        if (t0 !== undefined) latencies.push(performance.now() - t0);
      },
    },
  });
  try {
    return await run(bus, sent, latencies);
  } finally {
    await bus.stop();
  }
}

async function waitFor(done: () => boolean, ms: number): Promise<void> {
  const until = performance.now() + ms;
  while (!done() && performance.now() < until) await new Promise((r) => setTimeout(r, 5));
}

async function fixedRate(makeStore: () => BusStore): Promise<Figures & { rate: number }> {
  return withBus(makeStore, async (bus, sent, latencies) => {
    const total = Math.round(RATE * SECONDS);
    const prepared = Array.from({ length: total }, () => event());
    let i = 0;
    let accepted = 0;
    const pending = new Set<Promise<void>>();
    const start = performance.now();
    while (i < total) {
      const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * RATE));
      while (i < due) {
        const e = prepared[i++]!;
        sent.set(e.id, performance.now());
        const p = bus.publishAs('delivery', [e]).then((rs) => void (accepted += rs.filter((r) => r.status === 'accepted').length));
        pending.add(p);
        void p.finally(() => pending.delete(p));
      }
      await new Promise((r) => setTimeout(r, 1));
    }
    await Promise.all(pending);
    await waitFor(() => latencies.length >= accepted, 60_000);
    return { rate: RATE, ...figures(latencies, accepted) };
  });
}

async function throughput(makeStore: () => BusStore): Promise<Figures & { eventsPerSecond: number }> {
  return withBus(makeStore, async (bus, sent, latencies) => {
    const prepared = Array.from({ length: TOTAL }, () => event());
    let next = 0;
    let accepted = 0;
    const start = performance.now();
    const publisher = async (): Promise<void> => {
      while (next < TOTAL) {
        const batch = prepared.slice(next, next + 10);
        next += batch.length;
        const t0 = performance.now();
        for (const e of batch) sent.set(e.id, t0);
        const rs = await bus.publishAs('delivery', batch);
        accepted += rs.filter((r) => r.status === 'accepted').length;
      }
    };
    await Promise.all(Array.from({ length: 16 }, publisher));
    await waitFor(() => latencies.length >= accepted, 120_000);
    const seconds = (performance.now() - start) / 1000;
    return { eventsPerSecond: Math.round(latencies.length / seconds), ...figures(latencies, accepted) };
  });
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'keyway-bench-compare-'));
  const results: Record<string, { fixedRate: Figures & { rate: number }; throughput: Figures & { eventsPerSecond: number } }> = {};
  let server: PostgresServer | undefined;
  let n = 0;
  try {
    if (ONLY !== 'postgres') {
      const store = (): BusStore => new SqliteBusStore({ path: join(dir, `bus-${n++}.db`) });
      console.log('SQLite (WAL, ack after fdatasync of the WAL)');
      results.sqlite = { fixedRate: await fixedRate(store), throughput: await throughput(store) };
    }
    if (ONLY !== 'sqlite') {
      let url = process.env.BENCH_DATABASE_URL;
      if (!url) {
        if (!postgresAvailable()) throw new Error(POSTGRES_MISSING);
        server = await startPostgres();
        url = server.url;
      }
      const base = url;
      // Each run in its own schema, so the second starts on empty tables like SQLite's fresh file.
      const store = (): BusStore => new PostgresBusStore({ connectionString: base, schema: `bench_${process.pid}_${n++}`, poolSize: 10 });
      console.log(`PostgreSQL (fsync=on, synchronous_commit=on)${server ? ', throwaway local server' : ''}`);
      results.postgres = { fixedRate: await fixedRate(store), throughput: await throughput(store) };
    }
  } finally {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const cpu = cpus()[0]?.model ?? 'unknown';
  console.log(`\n${cpus().length} x ${cpu}, Node ${process.version}`);
  console.log('backend     fixed-rate (ev/s)  p50 ms  p90 ms  p99 ms  lost | throughput ev/s  p50 ms  p90 ms  p99 ms  lost');
  for (const [name, r] of Object.entries(results)) {
    const f = r.fixedRate;
    const t = r.throughput;
    console.log(
      `${name.padEnd(11)} ${String(f.rate).padStart(17)} ${String(f.p50Ms).padStart(7)} ${String(f.p90Ms).padStart(7)} ${String(f.p99Ms).padStart(7)} ${String(f.lost).padStart(5)} |` +
        ` ${String(t.eventsPerSecond).padStart(15)} ${String(t.p50Ms).padStart(7)} ${String(t.p90Ms).padStart(7)} ${String(t.p99Ms).padStart(7)} ${String(t.lost).padStart(5)}`,
    );
  }
  console.log(JSON.stringify({ bench: 'bus-compare', seconds: SECONDS, total: TOTAL, cpus: cpus().length, results }));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
