/**
 * At most `perKey` tasks of one key run at once; the others wait in order. The gateway keys batches by vendor, so a
 * vendor whose devices flood it works through its own queue while other vendors' batches start at once.
 */
export class KeyedSlots {
  private readonly keys = new Map<string, { running: number; waiting: Array<() => void> }>();

  constructor(private readonly perKey: number) {}

  async run<T>(key: string, task: () => Promise<T>): Promise<T> {
    let slot = this.keys.get(key);
    if (!slot) this.keys.set(key, (slot = { running: 0, waiting: [] }));
    const s = slot;
    // A finishing task hands its place to the next waiter, so `running` only counts up here.
    if (s.running >= this.perKey) await new Promise<void>((resolve) => s.waiting.push(resolve));
    else s.running += 1;
    try {
      return await task();
    } finally {
      const next = s.waiting.shift();
      if (next) next();
      else if ((s.running -= 1) === 0) this.keys.delete(key);
    }
  }

  /** Tasks of `key` running and waiting. */
  load(key: string): { running: number; waiting: number } {
    const s = this.keys.get(key);
    return { running: s?.running ?? 0, waiting: s?.waiting.length ?? 0 };
  }
}
