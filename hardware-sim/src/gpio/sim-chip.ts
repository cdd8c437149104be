/**
 * A simulated GPIO chip: numbered lines holding a physical level (0/1). Outputs are set by the
 * binding, inputs are driven by simulated devices (door sensors, photo-eye). Power loss makes
 * every line read 0 and ignores writes until power returns, like an unpowered header.
 */
export type Level = 0 | 1;
export type LevelListener = (level: Level) => void;

export interface SimGpioChipOptions {
  /** Name as a character device would have it. Default `gpiochip0`. */
  name?: string;
  /** Number of lines. Default 28 (BCM 0-27 on the 40-pin header). */
  lines?: number;
  /** Level each line floats to before anything drives it (power-on pull). Default 0 for all. */
  powerOnLevel?: (offset: number) => Level;
}

export class SimGpioChip {
  readonly name: string;
  readonly lineCount: number;
  private readonly driven: Level[];
  private readonly listeners = new Map<number, Set<LevelListener>>();
  private readonly risingEdges: number[];
  private powered = true;

  constructor(options: SimGpioChipOptions = {}) {
    this.name = options.name ?? 'gpiochip0';
    this.lineCount = options.lines ?? 28;
    const initial = options.powerOnLevel ?? ((): Level => 0);
    this.driven = Array.from({ length: this.lineCount }, (_, i) => initial(i));
    this.risingEdges = Array.from({ length: this.lineCount }, () => 0);
  }

  get isPowered(): boolean {
    return this.powered;
  }

  /** The level a reader sees on the line right now. */
  level(offset: number): Level {
    this.check(offset);
    return this.powered ? (this.driven[offset] ?? 0) : 0;
  }

  /** Sets the level a device (or an output) drives onto the line. Ignored while unpowered. */
  drive(offset: number, level: Level): void {
    this.check(offset);
    if (this.driven[offset] === level) return;
    this.driven[offset] = level;
    if (!this.powered) return;
    if (level === 1) this.risingEdges[offset] = (this.risingEdges[offset] ?? 0) + 1;
    this.notify(offset, level);
  }

  /** How many 0->1 transitions the line has seen: a relay-press counter for tests. */
  risingEdgeCount(offset: number): number {
    this.check(offset);
    return this.risingEdges[offset] ?? 0;
  }

  onLevel(offset: number, listener: LevelListener): () => void {
    this.check(offset);
    let set = this.listeners.get(offset);
    if (!set) {
      set = new Set();
      this.listeners.set(offset, set);
    }
    set.add(listener);
    return () => set.delete(listener);
  }

  listenerCount(): number {
    let n = 0;
    for (const set of this.listeners.values()) n += set.size;
    return n;
  }

  /** All lines drop to 0 at once. */
  powerLoss(): void {
    if (!this.powered) return;
    this.powered = false;
    for (let i = 0; i < this.lineCount; i++) if (this.driven[i] === 1) this.notify(i, 0);
  }

  /** Lines come back at whatever level is driven onto them now. */
  powerRestore(): void {
    if (this.powered) return;
    this.powered = true;
    for (let i = 0; i < this.lineCount; i++) if (this.driven[i] === 1) this.notify(i, 1);
  }

  private notify(offset: number, level: Level): void {
    const set = this.listeners.get(offset);
    if (!set) return;
    for (const listener of [...set]) listener(level);
  }

  private check(offset: number): void {
    if (!Number.isInteger(offset) || offset < 0 || offset >= this.lineCount) {
      throw new RangeError(`${this.name} has lines 0-${this.lineCount - 1}; line ${offset} does not exist`);
    }
  }
}
