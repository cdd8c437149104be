import { existsSync } from 'node:fs';
import { GpiodBinding, type GpiodBindingOptions } from './gpiod-binding.js';
import { OnoffBinding, type OnoffBindingOptions } from './onoff-binding.js';
import type { GpioBinding } from './types.js';

/** `gpio` section of the agent config. */
export type GpioBindingConfig =
  | ({ kind: 'onoff' } & OnoffBindingOptions)
  | ({ kind: 'gpiod' } & GpiodBindingOptions)
  /** sysfs when the kernel still has it, else the character device. */
  | { kind: 'auto'; sysfsRoot?: string }
  /** Tests and demos hand in hardware-sim's binding (createSimulatedGarage().binding). */
  | { kind: 'sim'; binding: GpioBinding };

/**
 * Picks the binding named in the config. Nothing is opened here: access problems surface,
 * with the file, permission and group spelled out, when the first line is opened.
 */
export function createGpioBinding(config: GpioBindingConfig): GpioBinding {
  switch (config.kind) {
    case 'onoff':
      return new OnoffBinding(config);
    case 'gpiod':
      return new GpiodBinding(config);
    case 'auto': {
      const root = config.sysfsRoot ?? '/sys/class/gpio';
      return existsSync(`${root}/export`) ? new OnoffBinding({ sysfsRoot: root }) : new GpiodBinding();
    }
    case 'sim':
      return config.binding;
  }
}
