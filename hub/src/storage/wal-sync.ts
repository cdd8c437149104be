import { fdatasync } from 'node:fs';
import { ErrorCode, KeywayError, createLogger } from '@keyway/shared';

/** Flushes a file's data to stable storage and calls back; `fs.fdatasync` runs it on libuv's thread pool. */
export type SyncFn = (fd: number, done: (error: Error | null) => void) => void;

const log = createLogger('storage.sqlite');

interface Waiter {
  generation: number;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * Makes commits durable by fdatasync-ing the WAL file off the event loop. Each commit takes the
 * next generation; an fdatasync covers every generation written before it started, so commits
 * that land while one runs share the next one instead of each paying for their own.
 *
 * After a failed fdatasync the kernel may already have dropped the dirty pages it could not
 * write, so a later fdatasync that succeeds proves nothing about the earlier frames (and WAL
 * recovery stops at the first missing frame, taking later commits with it). The first error
 * therefore fails every waiting commit and every later one: the store must be reopened.
 */
export class WalSync {
  private written = 0;
  private synced = 0;
  private running = false;
  private waiters: Waiter[] = [];
  private failure: KeywayError | undefined;
  private idle: (() => void)[] = [];

  constructor(
    private readonly fd: number,
    private readonly sync: SyncFn = fdatasync,
  ) {}

  /** The error that stopped this WAL from being synced, if any: no durable write may commit after it. */
  get failed(): KeywayError | undefined {
    return this.failure;
  }

  /** Call right after a commit: resolves once an fdatasync that started after it has completed. */
  durable(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const generation = ++this.written;
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ generation, resolve, reject });
      if (!this.running) this.startSync();
    });
  }

  /** Resolves when no fdatasync is running any more, so the fd can be closed. */
  settled(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private startSync(): void {
    const covers = this.written;
    this.running = true;
    this.sync(this.fd, (error) => {
      this.running = false;
      if (error) {
        this.fail(error);
      } else {
        this.synced = covers;
        const done = this.waiters.filter((w) => w.generation <= this.synced);
        this.waiters = this.waiters.filter((w) => w.generation > this.synced);
        for (const w of done) w.resolve();
        if (this.waiters.length > 0) this.startSync();
      }
      if (!this.running) for (const resolve of this.idle.splice(0)) resolve();
    });
  }

  private fail(error: Error): void {
    this.failure = new KeywayError(
      ErrorCode.Unavailable,
      `the bus log could not be made durable (fdatasync of the WAL failed: ${error.message}); ` +
        'the events were not acknowledged: restart the hub, then publish them again',
      { cause: error },
    );
    log.error({ err: error, waiting: this.waiters.length }, 'fdatasync of the bus WAL failed; refusing further appends');
    for (const w of this.waiters.splice(0)) w.reject(this.failure);
  }
}
