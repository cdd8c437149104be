import { once } from 'node:events';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

// Plain CommonJS run as an eval'd worker, so it needs no TypeScript loader.
const CHECKPOINTER = `
const { workerData, parentPort } = require('node:worker_threads');
const Database = require(workerData.sqlite);
const db = new Database(workerData.path);
db.pragma('busy_timeout = 5000');
const timer = setInterval(() => {
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch { /* busy: the next tick retries */ }
}, workerData.intervalMs);
parentPort.once('message', () => { clearInterval(timer); db.close(); process.exit(0); });
`;

/**
 * Copies WAL frames into the database file from a worker thread. A checkpoint writes and fsyncs
 * the database file; done by the committing connection it would stall the event loop that
 * ingests and delivers. PASSIVE never blocks the writer.
 */
export class SqliteCheckpointer {
  private worker: Worker | undefined;

  constructor(
    private readonly path: string,
    private readonly intervalMs: number,
  ) {}

  start(): void {
    let sqlite: string;
    try {
      sqlite = createRequire(import.meta.url).resolve('better-sqlite3');
    } catch {
      // In a bundle (the hub image) better-sqlite3 is not a resolvable package; the writer's own
      // checkpoints then keep the WAL bounded, on the main thread.
      return;
    }
    this.worker = new Worker(CHECKPOINTER, {
      eval: true,
      workerData: { sqlite, path: this.path, intervalMs: this.intervalMs },
    });
    // a failed checkpointer only lets the WAL grow until the writer's own fallback checkpoint
    this.worker.on('error', () => undefined);
  }

  async stop(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    if (!worker) return;
    const exited = once(worker, 'exit');
    worker.postMessage('stop');
    await exited;
  }
}
