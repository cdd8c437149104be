import { closeSync, fdatasync, openSync } from 'node:fs';
import { ErrorCode, KeywayError, createLogger } from '@keyway/shared';

/** Flushes a file's data to stable storage and calls back; `fs.fdatasync` runs it on libuv's thread pool. */
export type SyncFn = (fd: number, done: (error: Error | null) => void) => void;

const log = createLogger('storage.sqlite');

interface Waiter {
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * Makes commits durable by fdatasync-ing the WAL file off the event loop. An fdatasync covers the
 * commits waiting when it started; commits that land while one runs wait together for the next
 * one instead of each paying for their own.
 *
 * After a failed fdatasync the kernel may already have dropped the dirty pages it could not
 * write, so a later fdatasync that succeeds proves nothing about the earlier frames (and WAL
 * recovery stops at the first missing frame, taking later commits with it). The first error
 * therefore fails every waiting commit and every later one: the store must be reopened.
 */
export class WalSync {
  private running = false;
  private waiters: Waiter[] = [];
  private failure: KeywayError | undefined;
  private idle: (() => void)[] = [];

  constructor(
    private readonly fd: number,
    private readonly sync: SyncFn = fdatasync,
  ) {}

  /** Opens the WAL file at `path` for syncing; close() closes it. */
  static open(path: string, sync?: SyncFn): WalSync {
    return new WalSync(openSync(path, 'r'), sync);
  }

  /** The error that stopped this WAL from being synced, if any: no durable write may commit after it. */
  get failed(): KeywayError | undefined {
    return this.failure;
  }

  /** Call right after a commit: resolves once an fdatasync that started after it has completed. */
  durable(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      if (!this.running) this.startSync();
    });
  }

  /** Waits until no fdatasync is running any more, then closes the file. */
  async close(): Promise<void> {
    if (this.running) await new Promise<void>((resolve) => this.idle.push(resolve));
    closeSync(this.fd);
  }

  private startSync(): void {
    const batch = this.waiters;
    this.waiters = [];
    this.running = true;
    this.sync(this.fd, (error) => {
      this.running = false;
      if (error) {
        this.fail(error, batch);
      } else {
        for (const w of batch) w.resolve();
        if (this.waiters.length > 0) this.startSync();
      }
      if (!this.running) for (const resolve of this.idle.splice(0)) resolve();
    });
  }

  /** Fails the commits the failed fdatasync covered, those waiting for the next one, and every later one. */
  private fail(error: Error, batch: Waiter[]): void {
    this.failure = new KeywayError(
      ErrorCode.Unavailable,
      `the bus log could not be made durable (fdatasync of the WAL failed: ${error.message}); ` +
        'the events were not acknowledged: restart the hub, then publish them again',
      { cause: error },
    );
    log.error({ err: error, waiting: batch.length + this.waiters.length }, 'fdatasync of the bus WAL failed; refusing further appends');
    for (const w of [...batch, ...this.waiters.splice(0)]) w.reject(this.failure);
  }
}
