import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ErrorCode, KeywayError } from '@keyway/shared';
import type { BusStore } from './types.js';

interface Reply {
  id: number;
  result?: unknown;
  error?: { code: ErrorCode; message: string; details?: Record<string, unknown> };
}

type Pending = { resolve: (v: unknown) => void; reject: (e: unknown) => void };

export interface ThreadedSqliteBusStoreOptions {
  path: string;
}

/**
 * Starts the worker. Run from TypeScript sources (tsx, vitest), the worker registers tsx itself
 * before importing its entry: Node 20 does not apply `--import` loader hooks to worker threads.
 */
function startWorker(path: string): Worker {
  const entry = new URL(import.meta.url.endsWith('.ts') ? './sqlite-worker.ts' : './sqlite-worker.js', import.meta.url);
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry, { workerData: { path } });
  // the ESM build of tsx's API (require.resolve would give the CommonJS one)
  const tsxRoot = dirname(createRequire(import.meta.url).resolve('tsx/package.json'));
  const tsxApi = pathToFileURL(join(tsxRoot, 'dist', 'esm', 'api', 'index.mjs')).href;
  const boot = `import(${JSON.stringify(tsxApi)})
    .then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); })
    .catch((error) => { console.error(error); process.exit(1); });`;
  return new Worker(boot, { eval: true, workerData: { path } });
}

/**
 * The SQLite backend on a worker thread: same file format and semantics as SqliteBusStore (it
 * runs one inside the worker), but statements and fsyncs no longer stall the event loop that
 * validates and delivers, and the second core does the storage work.
 */
export class ThreadedSqliteBusStore implements BusStore {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  constructor(private readonly options: ThreadedSqliteBusStoreOptions) {}

  async init(): Promise<void> {
    if (!this.worker) {
      const worker = startWorker(this.options.path);
      worker.on('message', (reply: Reply) => this.settle(reply));
      worker.on('error', (error) => this.failAll(error));
      worker.on('exit', () => {
        this.worker = undefined;
        this.failAll(new KeywayError(ErrorCode.Unavailable, 'the SQLite worker thread exited; restart the bus'));
      });
      this.worker = worker;
    }
    await this.call('init');
  }

  async close(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    await this.call('close');
    this.worker = undefined;
    await worker.terminate();
  }

  private call<T>(method: keyof BusStore, ...args: unknown[]): Promise<T> {
    const worker = this.worker;
    if (!worker) {
      return Promise.reject(
        new KeywayError(ErrorCode.Unavailable, 'the threaded SQLite store is not open; call init() first'),
      );
    }
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      worker.postMessage({ id, method, args });
    });
  }

  private settle(reply: Reply): void {
    const p = this.pending.get(reply.id);
    if (!p) return;
    this.pending.delete(reply.id);
    if (reply.error) {
      p.reject(
        new KeywayError(
          reply.error.code,
          reply.error.message,
          reply.error.details ? { details: reply.error.details } : {},
        ),
      );
    } else {
      p.resolve(reply.result);
    }
  }

  private failAll(error: unknown): void {
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
  }

  appendBatch: BusStore['appendBatch'] = (...a) => this.call('appendBatch', ...a);
  enqueue: BusStore['enqueue'] = (...a) => this.call('enqueue', ...a);
  claim: BusStore['claim'] = (...a) => this.call('claim', ...a);
  ack: BusStore['ack'] = (...a) => this.call('ack', ...a);
  retryLater: BusStore['retryLater'] = (...a) => this.call('retryLater', ...a);
  release: BusStore['release'] = (...a) => this.call('release', ...a);
  deadLetter: BusStore['deadLetter'] = (...a) => this.call('deadLetter', ...a);
  listDead: BusStore['listDead'] = (...a) => this.call('listDead', ...a);
  redrive: BusStore['redrive'] = (...a) => this.call('redrive', ...a);
  stats: BusStore['stats'] = (...a) => this.call('stats', ...a);
  readLog: BusStore['readLog'] = (...a) => this.call('readLog', ...a);
  purge: BusStore['purge'] = (...a) => this.call('purge', ...a);
  putAccount: BusStore['putAccount'] = (...a) => this.call('putAccount', ...a);
  addApiKey: BusStore['addApiKey'] = (...a) => this.call('addApiKey', ...a);
  revokeApiKey: BusStore['revokeApiKey'] = (...a) => this.call('revokeApiKey', ...a);
  accountForKey: BusStore['accountForKey'] = (...a) => this.call('accountForKey', ...a);
  upsertSubscriber: BusStore['upsertSubscriber'] = (...a) => this.call('upsertSubscriber', ...a);
  getSubscriber: BusStore['getSubscriber'] = (...a) => this.call('getSubscriber', ...a);
  listSubscribers: BusStore['listSubscribers'] = (...a) => this.call('listSubscribers', ...a);
}
