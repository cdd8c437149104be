import { join } from 'node:path';
import { createLogger, ErrorCode, KeywayError, type Logger } from '@keyway/shared';
import type { Gpio } from 'onoff';
import { assertReadWrite, realProbe, type AccessProbe } from './access.js';
import { relayPowerOnWarning } from './power-on.js';
import { pickHeaderChip, readGpioChips, sysfsNumber, type SysfsChip } from './sysfs-chips.js';
import type { DigitalInput, DigitalOutput, GpioBinding, InputSpec, OutputSpec } from './types.js';

export interface OnoffBindingOptions {
  /** Where the chips and export file are looked up. Default `/sys/class/gpio` (onoff itself always uses that path). */
  sysfsRoot?: string;
  /** Label of the header chip when it is not a known Raspberry Pi one. */
  chipLabel?: string;
  /** Name of the output that drives the door relay; it gets the power-on check. Default `relay`. */
  relayName?: string;
  probe?: AccessProbe;
  logger?: Logger;
}

/**
 * sysfs GPIO through `onoff`. Pins are configured as BCM numbers and translated through the
 * chip base. Outputs are exported straight into their inactive level ("high"/"low" written to
 * `direction` sets the raw level atomically with the direction), so there is no glitch at start.
 */
export class OnoffBinding implements GpioBinding {
  readonly kind = 'onoff';
  private chip: SysfsChip | undefined;
  private readonly opened = new Set<{ gpio: Gpio; output: boolean }>();
  private readonly root: string;
  private readonly log: Logger;

  constructor(private readonly options: OnoffBindingOptions = {}) {
    this.root = options.sysfsRoot ?? '/sys/class/gpio';
    this.log = options.logger ?? createLogger('agent.hal.onoff');
  }

  /** The sysfs number a BCM pin maps to on this system. */
  async resolve(bcm: number): Promise<number> {
    this.chip ??= pickHeaderChip(await readGpioChips(this.root), this.options.chipLabel);
    return sysfsNumber(this.chip, bcm);
  }

  async openOutput(spec: OutputSpec): Promise<DigitalOutput> {
    const activeLow = spec.activeLow ?? false;
    if (spec.name === (this.options.relayName ?? 'relay')) {
      const warning = relayPowerOnWarning(spec.pin, activeLow);
      if (warning) this.log.warn({ pin: spec.pin, activeLow }, warning);
    }
    // Physical level written with the direction is raw, so the inactive level depends on wiring.
    const gpio = await this.create(spec, activeLow ? 'high' : 'low');
    const entry = { gpio, output: true };
    this.opened.add(entry);
    let active = false;
    return {
      name: spec.name,
      get active() {
        return active;
      },
      write: (value) => {
        gpio.writeSync(value ? 1 : 0);
        active = value;
        return Promise.resolve();
      },
      close: () => {
        this.release(entry);
        return Promise.resolve();
      },
    };
  }

  async openInput(spec: InputSpec): Promise<DigitalInput> {
    const gpio = await this.create(spec, 'in', 'both');
    const entry = { gpio, output: false };
    this.opened.add(entry);
    let value = gpio.readSync() === 1;
    const listeners = new Set<(active: boolean) => void>();
    gpio.watch((error, bit) => {
      if (error) {
        this.log.error({ err: error, line: spec.name }, 'GPIO edge watch failed');
        return;
      }
      const next = bit === 1;
      if (next === value) return;
      value = next;
      for (const l of [...listeners]) l(next);
    });
    return {
      name: spec.name,
      read: () => value,
      onChange: (listener) => {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
      close: () => {
        listeners.clear();
        this.release(entry);
        return Promise.resolve();
      },
    };
  }

  close(): Promise<void> {
    for (const entry of [...this.opened]) this.release(entry);
    return Promise.resolve();
  }

  private async create(spec: OutputSpec, direction: 'in' | 'high' | 'low', edge?: 'both'): Promise<Gpio> {
    const number = await this.resolve(spec.pin);
    await assertReadWrite(join(this.root, 'export'), 'sysfs GPIO export', this.options.probe ?? realProbe);
    const { Gpio: GpioClass } = await import('onoff');
    try {
      return new GpioClass(number, direction, edge ?? 'none', { activeLow: spec.activeLow ?? false });
    } catch (error) {
      const gpioDir = join('/sys/class/gpio', `gpio${number}`);
      await assertReadWrite(join(gpioDir, 'value'), `GPIO ${spec.pin} (${spec.name})`, this.options.probe ?? realProbe);
      throw new KeywayError(ErrorCode.HardwareUnavailable, `cannot open GPIO ${spec.pin} (sysfs ${number}) for ${spec.name}; check that no other program holds it`, {
        cause: error,
        details: { pin: spec.pin, sysfs: number },
      });
    }
  }

  private release(entry: { gpio: Gpio; output: boolean }): void {
    if (!this.opened.delete(entry)) return;
    entry.gpio.unwatchAll();
    // Outputs stay exported at their inactive level: unexporting returns the pin to an input,
    // whose pull could energise an active-low relay board and move the door.
    if (!entry.output) entry.gpio.unexport();
  }
}
