import type { Clock, TimerHandle } from './clock.js';
import type { DigitalInput } from './types.js';

/**
 * Wraps an input so a new value is reported only after it has held for `ms`. Photo-eyes in
 * sunlight and bouncing reed switches produce blips shorter than that; a real obstruction or
 * a real door movement lasts far longer. Works the same over every binding.
 */
export class DebouncedInput implements DigitalInput {
  readonly name: string;
  private stable: boolean;
  private timer: TimerHandle | undefined;
  private readonly listeners = new Set<(active: boolean) => void>();
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly raw: DigitalInput,
    private readonly ms: number,
    private readonly clock: Clock,
  ) {
    this.name = raw.name;
    this.stable = raw.read();
  }

  /** Subscribes to the raw line. Separate from the constructor so creating one has no effect. */
  start(): void {
    if (this.unsubscribe) return;
    this.stable = this.raw.read();
    this.unsubscribe = this.raw.onChange((value) => this.onRaw(value));
  }

  read(): boolean {
    return this.stable;
  }

  onChange(listener: (active: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stops listening; does not close the raw line, which its owner closes. */
  close(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.listeners.clear();
    return Promise.resolve();
  }

  private onRaw(value: boolean): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    if (value === this.stable) return;
    if (this.ms <= 0) {
      this.commit(value);
      return;
    }
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      // Re-read: the last edge may have been missed by a lossy binding.
      const now = this.raw.read();
      if (now !== this.stable) this.commit(now);
    }, this.ms);
  }

  private commit(value: boolean): void {
    this.stable = value;
    for (const l of [...this.listeners]) l(value);
  }
}
