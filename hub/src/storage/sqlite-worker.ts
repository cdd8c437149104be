/**
 * Worker-thread side of ThreadedSqliteBusStore: hosts one SqliteBusStore and answers calls.
 * Runs SQLite (and its fsyncs) on the second core, off the event loop that delivers events.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { isKeywayError } from '@keyway/shared';
import { SqliteBusStore } from './sqlite-store.js';

interface Call {
  id: number;
  method: string;
  args: unknown[];
}

const port = parentPort;
if (!port) throw new Error('sqlite-worker.ts must run as a worker thread');
const store = new SqliteBusStore(workerData as { path: string });
const methods = store as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;

port.on('message', (call: Call) => {
  const fn = methods[call.method];
  if (typeof fn !== 'function') {
    port.postMessage({ id: call.id, error: { code: 'INTERNAL', message: `no store method ${call.method}` } });
    return;
  }
  fn.apply(store, call.args).then(
    (result) => port.postMessage({ id: call.id, result }),
    (error: unknown) =>
      port.postMessage({
        id: call.id,
        error: isKeywayError(error)
          ? { code: error.code, message: error.message, details: error.details }
          : { code: 'INTERNAL', message: error instanceof Error ? error.message : String(error) },
      }),
  );
});
