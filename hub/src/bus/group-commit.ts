import type { AppendInput, AppendOutcome, BusStore } from '../storage/types.js';

interface Waiting {
  entries: readonly AppendInput[];
  resolve: (outcomes: AppendOutcome[]) => void;
  reject: (error: unknown) => void;
}

const MAX_ENTRIES_PER_COMMIT = 4096;

/**
 * Group commit: publishes that arrive while a commit is being prepared share one transaction,
 * so one fsync makes many events durable. Each caller still learns its own outcome only after
 * the store resolves the append, which it does once the commit is durable (SQLite: after an
 * fdatasync of the WAL, see storage/wal-sync.ts), so "acknowledged means durable" holds.
 */
export class GroupCommit {
  private waiting: Waiting[] = [];
  private scheduled = false;
  private flushing = false;

  constructor(
    private readonly store: BusStore,
    private readonly clock: () => number,
  ) {}

  append(entries: readonly AppendInput[]): Promise<AppendOutcome[]> {
    if (entries.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.waiting.push({ entries, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.flushing) return;
    this.scheduled = true;
    setImmediate(() => void this.flush());
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    this.flushing = true;
    const group: Waiting[] = [];
    let count = 0;
    while (this.waiting.length > 0 && count < MAX_ENTRIES_PER_COMMIT) {
      const w = this.waiting.shift()!;
      group.push(w);
      count += w.entries.length;
    }
    try {
      await this.commit(group);
    } finally {
      this.flushing = false;
      if (this.waiting.length > 0) this.schedule();
    }
  }

  private async commit(group: readonly Waiting[]): Promise<void> {
    try {
      const outcomes = await this.store.appendBatch(
        group.flatMap((w) => w.entries),
        this.clock(),
      );
      let at = 0;
      for (const w of group) {
        w.resolve(outcomes.slice(at, at + w.entries.length));
        at += w.entries.length;
      }
    } catch (error) {
      if (group.length === 1) {
        group[0]!.reject(error);
        return;
      }
      // one caller's bad entry must not fail the others: commit each caller on its own
      for (const w of group) await this.commit([w]);
    }
  }
}
