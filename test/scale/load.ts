/**
 * Load for the failover tests: a webhook sink that records every delivery it receives (event id, attempt, time), and
 * a publisher that keeps posting PackagePlaced batches through the replicas' HTTP API and remembers which events a
 * replica acknowledged (entry status `accepted`, i.e. committed to PostgreSQL).
 */
import http from 'node:http';
import { createEvent } from '@keyway/shared/client';
import type { Replica } from './cluster.js';

export interface Receipt {
  id: string;
  at: number;
  attempt: number;
}

export interface Sink {
  url: string;
  /** How long each delivery is held before the 204; may be changed while running. */
  delayMs: number;
  receipts: Receipt[];
  /** Event ids received more than once. */
  duplicates(): string[];
  received(): Set<string>;
  close(): Promise<void>;
}

export async function startSink(delayMs = 5): Promise<Sink> {
  const receipts: Receipt[] = [];
  const sink = { delayMs };
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const event = JSON.parse(body) as { id: string };
      receipts.push({ id: event.id, at: Date.now(), attempt: Number(req.headers['x-keyway-attempt'] ?? 0) });
      // A little work per delivery, so replicas hold claims in flight when one of them dies.
      setTimeout(() => res.writeHead(204).end(), sink.delayMs);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/events`,
    get delayMs() {
      return sink.delayMs;
    },
    set delayMs(ms: number) {
      sink.delayMs = ms;
    },
    receipts,
    duplicates() {
      const seen = new Set<string>();
      const twice = new Set<string>();
      for (const r of receipts) (seen.has(r.id) ? twice : seen).add(r.id);
      return [...twice];
    },
    received: () => new Set(receipts.map((r) => r.id)),
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

export interface Publisher {
  /** Event ids a replica answered `accepted` for. */
  acknowledged: Set<string>;
  /** Acknowledged events per replica name. */
  byReplica: Map<string, number>;
  /** Calls that failed as a whole (replica gone, database down): their events count as not acknowledged. */
  failedCalls: number;
  stop(): Promise<void>;
}

/** Posts batches of 10 round-robin over `targets()` (re-read each time, so a dead replica can be dropped). */
export function startPublisher(targets: () => Replica[], deliveryKey: string, prefix: string, pauseMs = 10): Publisher {
  const acknowledged = new Set<string>();
  let running = true;
  let n = 0;
  const byReplica = new Map<string, number>();
  const state = { acknowledged, failedCalls: 0 };
  const loop = (async () => {
    while (running) {
      const list = targets();
      const target = list[n % list.length];
      n += 1;
      if (!target) break;
      const at = new Date().toISOString();
      const entries = Array.from({ length: 10 }, (_, i) =>
        createEvent('keyway.delivery.PackagePlaced', { deliveryId: `load-${n}-${i}`, deviceId: `garage-${i}`, at }, { source: 'keyway://service/delivery', id: `${prefix}-${n}-${i}`, subject: `garage-${i}` }),
      );
      try {
        const r = await target.call('POST', '/v1/events', { entries }, deliveryKey);
        if (r.status === 200) {
          (r.body.entries as { status: string }[]).forEach((e, i) => {
            if (e.status !== 'accepted') return;
            acknowledged.add(entries[i]!.id);
            byReplica.set(target.name, (byReplica.get(target.name) ?? 0) + 1);
          });
        } else state.failedCalls += 1;
      } catch {
        state.failedCalls += 1;
      }
      await new Promise((r) => setTimeout(r, pauseMs));
    }
  })();
  return {
    acknowledged,
    byReplica,
    get failedCalls() {
      return state.failedCalls;
    },
    async stop() {
      running = false;
      await loop;
    },
  };
}
