/**
 * The small interface every GPIO binding (onoff/sysfs, libgpiod, simulator) implements.
 * Values are logical: `true` means active (relay energised, switch made, beam broken);
 * the binding maps them through `activeLow` to physical levels.
 */
export interface LineSpec {
  /** Human name used in logs and errors, e.g. `relay`. */
  name: string;
  /** BCM GPIO number (the offset on the Pi's main GPIO chip), not the sysfs number. */
  pin: number;
  /** The line is active when the physical level is low. Default false. */
  activeLow?: boolean;
}

export type OutputSpec = LineSpec;
export type InputSpec = LineSpec;

export interface DigitalOutput {
  readonly name: string;
  /** Last value written (outputs always start inactive). */
  readonly active: boolean;
  write(active: boolean): Promise<void>;
  close(): Promise<void>;
}

export interface DigitalInput {
  readonly name: string;
  /** Current logical value, read without blocking. */
  read(): boolean;
  /** Called on every edge; returns the unsubscribe function. Raw: not debounced. */
  onChange(listener: (active: boolean) => void): () => void;
  close(): Promise<void>;
}

export interface GpioBinding {
  readonly kind: string;
  /** Opens an output that is inactive from the first instant (no glitch at export). */
  openOutput(spec: OutputSpec): Promise<DigitalOutput>;
  openInput(spec: InputSpec): Promise<DigitalInput>;
  /** Releases every line this binding opened. */
  close(): Promise<void>;
}
