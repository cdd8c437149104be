import { systemClock, type Clock } from './clock.js';
import { SimGarageDoor, type DoorPins } from './door/garage-door.js';
import { SimGpioBinding, type SimDigitalInput, type SimDigitalOutput } from './gpio/sim-binding.js';
import { SimGpioChip } from './gpio/sim-chip.js';

/** BCM numbers used by the simulated garage, matching the default wiring in agent/src/hal/WIRING.md. */
export const DEFAULT_DOOR_PINS: DoorPins = { relay: 17, warning: 27, closedSwitch: 22, openSwitch: 23, beam: 24 };

export interface SimulatedGarageOptions {
  /** Full travel time in clock ms. Default 12000. */
  travelMs?: number;
  /** Default the system clock (works with vitest fake timers). */
  clock?: Clock;
  /** Starting position: 0 closed, 1 open. Default 0. */
  position?: number;
  pins?: Partial<DoorPins>;
  relayActiveLow?: boolean;
  sensorsActiveLow?: boolean;
}

/** Lines opened through the simulated binding, in the shape the door controller takes. */
export interface SimDoorIo {
  relay: SimDigitalOutput;
  warning: SimDigitalOutput;
  closedSwitch: SimDigitalInput;
  openSwitch: SimDigitalInput;
  beam: SimDigitalInput;
}

export interface SimulatedGarage {
  clock: Clock;
  chip: SimGpioChip;
  door: SimGarageDoor;
  binding: SimGpioBinding;
  pins: DoorPins;
  /** Opens a fresh set of lines, as an agent process would at start (call again to model a restart). */
  openIo(): SimDoorIo;
  /** Closes every line and stops the door's timers. */
  dispose(): Promise<void>;
}

/** One call that wires chip, door and binding together for tests and demos. */
export function createSimulatedGarage(options: SimulatedGarageOptions = {}): SimulatedGarage {
  const clock = options.clock ?? systemClock;
  const pins: DoorPins = { ...DEFAULT_DOOR_PINS, ...options.pins };
  const relayActiveLow = options.relayActiveLow ?? false;
  const sensorsActiveLow = options.sensorsActiveLow ?? false;
  // Before anyone drives the relay line it floats to its inactive level, as on a correctly wired pin.
  const chip = new SimGpioChip({ powerOnLevel: (offset) => (offset === pins.relay && relayActiveLow ? 1 : 0) });
  const binding = new SimGpioBinding(chip);
  const door = new SimGarageDoor({
    chip,
    clock,
    pins,
    relayActiveLow,
    sensorsActiveLow,
    ...(options.travelMs === undefined ? {} : { travelMs: options.travelMs }),
    ...(options.position === undefined ? {} : { position: options.position }),
  });
  const openIo = (): SimDoorIo => ({
    relay: binding.openOutputSync({ name: 'relay', pin: pins.relay, activeLow: relayActiveLow }),
    warning: binding.openOutputSync({ name: 'warning', pin: pins.warning }),
    closedSwitch: binding.openInputSync({ name: 'closed-switch', pin: pins.closedSwitch, activeLow: sensorsActiveLow }),
    openSwitch: binding.openInputSync({ name: 'open-switch', pin: pins.openSwitch, activeLow: sensorsActiveLow }),
    beam: binding.openInputSync({ name: 'beam', pin: pins.beam, activeLow: sensorsActiveLow }),
  });
  return {
    clock,
    chip,
    door,
    binding,
    pins,
    openIo,
    dispose: async () => {
      await binding.close();
      door.dispose();
    },
  };
}
