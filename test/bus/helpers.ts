import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEvent } from '@keyway/shared/client';
import { SchemaRegistry } from '@keyway/shared/registry';
import { Bus, type BusOptions } from '@keyway/hub/bus';
import { SqliteBusStore } from '@keyway/hub/storage';
import { until } from '../../scripts/support/until.js';

export const registry = SchemaRegistry.fromEmbedded();

export interface TestHub {
  bus: Bus;
  dir: string;
  dbPath: string;
  close(): Promise<void>;
}

/** A started bus on a fresh SQLite file, with fast polling so tests stay quick. */
export async function startBus(options: Partial<BusOptions> = {}, dbPath?: string): Promise<TestHub> {
  const dir = mkdtempSync(join(tmpdir(), 'keyway-bus-'));
  const path = dbPath ?? join(dir, 'bus.db');
  const bus = new Bus({
    store: new SqliteBusStore({ path }),
    validator: registry,
    pollIntervalMs: 10,
    alarmIntervalMs: 60_000,
    ...options,
  });
  await bus.start();
  return {
    bus,
    dir,
    dbPath: path,
    close: async () => {
      await bus.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

let counter = 0;

export function scheduled(subject = 'garage-1', id?: string) {
  counter += 1;
  return createEvent(
    'keyway.delivery.DeliveryScheduled',
    {
      deliveryId: `d-${counter}`,
      customerId: 'cust-1',
      deviceId: subject,
      courierId: 'courier-7',
      windowStart: '2026-11-28T10:00:00.000Z',
      windowEnd: '2026-11-28T12:00:00.000Z',
    },
    { source: 'keyway://service/delivery', subject, ...(id ? { id } : {}) },
  );
}

/** Polls `check` every 5 ms until it holds; throws naming `what` after `timeoutMs`. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 5_000, what = 'condition'): Promise<void> {
  await until(what, check, timeoutMs, 5);
}

export interface TestServer {
  url: string;
  requests: { headers: IncomingMessage['headers']; body: string; at: number }[];
  close(): Promise<void>;
}

/** A real HTTP target on an ephemeral 127.0.0.1 port; `respond` decides each answer. */
export async function startTarget(
  respond: (req: IncomingMessage, body: string, res: ServerResponse) => void = (_q, _b, res) => res.writeHead(200).end(),
): Promise<TestServer> {
  const requests: TestServer['requests'] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      requests.push({ headers: req.headers, body, at: Date.now() });
      respond(req, body, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
