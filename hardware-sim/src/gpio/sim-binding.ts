import type { Level, SimGpioChip } from './sim-chip.js';

/**
 * GPIO binding over a SimGpioChip. Structurally the same as the agent's `GpioBinding`
 * (agent/src/hal/types.ts), so the door controller cannot tell it from real hardware.
 * `active` is the logical value; `activeLow` maps it to the physical level.
 */
export interface SimOutputSpec {
  name: string;
  pin: number;
  activeLow?: boolean;
}
export type SimInputSpec = SimOutputSpec;

export interface SimDigitalOutput {
  readonly name: string;
  readonly active: boolean;
  write(active: boolean): Promise<void>;
  close(): Promise<void>;
}

export interface SimDigitalInput {
  readonly name: string;
  read(): boolean;
  onChange(listener: (active: boolean) => void): () => void;
  close(): Promise<void>;
}

const toLevel = (active: boolean, activeLow: boolean): Level => (active !== activeLow ? 1 : 0);

export class SimGpioBinding {
  readonly kind = 'sim' as const;
  private readonly closers = new Set<() => void>();

  constructor(private readonly chip: SimGpioChip) {}

  openOutput(spec: SimOutputSpec): Promise<SimDigitalOutput> {
    return Promise.resolve(this.openOutputSync(spec));
  }

  openInput(spec: SimInputSpec): Promise<SimDigitalInput> {
    return Promise.resolve(this.openInputSync(spec));
  }

  /** Output starts inactive, the same guarantee the real bindings give at export. */
  openOutputSync(spec: SimOutputSpec): SimDigitalOutput {
    const chip = this.chip;
    const activeLow = spec.activeLow ?? false;
    let active = false;
    let closed = false;
    chip.drive(spec.pin, toLevel(false, activeLow));
    const close = (): void => {
      closed = true;
      this.closers.delete(close);
    };
    this.closers.add(close);
    return {
      name: spec.name,
      get active() {
        return active;
      },
      write: (value) => {
        if (closed) return Promise.reject(new Error(`output ${spec.name} is closed`));
        active = value;
        chip.drive(spec.pin, toLevel(value, activeLow));
        return Promise.resolve();
      },
      close: () => {
        close();
        return Promise.resolve();
      },
    };
  }

  openInputSync(spec: SimInputSpec): SimDigitalInput {
    const chip = this.chip;
    const activeLow = spec.activeLow ?? false;
    const unsubscribers = new Set<() => void>();
    const close = (): void => {
      for (const u of unsubscribers) u();
      unsubscribers.clear();
      this.closers.delete(close);
    };
    this.closers.add(close);
    return {
      name: spec.name,
      read: () => (chip.level(spec.pin) === 1) !== activeLow,
      onChange: (listener) => {
        const off = chip.onLevel(spec.pin, (level) => listener((level === 1) !== activeLow));
        unsubscribers.add(off);
        return () => {
          off();
          unsubscribers.delete(off);
        };
      },
      close: () => {
        close();
        return Promise.resolve();
      },
    };
  }

  close(): Promise<void> {
    for (const close of [...this.closers]) close();
    return Promise.resolve();
  }
}
