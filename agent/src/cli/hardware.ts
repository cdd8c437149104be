import { createSimulatedGarage } from '@keyway/hardware-sim';
import type { AgentConfig } from '../config/index.js';
import { DoorController } from '../door/controller.js';
import type { DoorIo } from '../door/types.js';
import { OnoffBinding } from '../hal/onoff-binding.js';
import type { GpioBinding } from '../hal/types.js';

export interface Hardware {
  io: DoorIo;
  door: DoorController;
  /** Closes every line (after the door controller has been stopped). */
  close(): Promise<void>;
}

/** Opens the door's lines through the configured binding: the simulator, or sysfs GPIO on real hardware. */
export async function openHardware(config: AgentConfig): Promise<Hardware> {
  const { gpio, door: doorConfig } = config;
  const controllerConfig = { pulseMs: doorConfig.pulseMs, warningMs: doorConfig.warningMs };
  if (gpio.binding === 'sim') {
    const garage = createSimulatedGarage({ pins: gpio.pins, relayActiveLow: gpio.relayActiveLow, sensorsActiveLow: gpio.sensorsActiveLow });
    const io = garage.openIo();
    return { io, door: new DoorController({ io, config: controllerConfig }), close: () => garage.dispose() };
  }
  const binding: GpioBinding = new OnoffBinding(gpio.chipLabel !== undefined ? { chipLabel: gpio.chipLabel } : {});
  const p = gpio.pins;
  const io: DoorIo = {
    relay: await binding.openOutput({ name: 'relay', pin: p.relay, activeLow: gpio.relayActiveLow }),
    warning: await binding.openOutput({ name: 'warning', pin: p.warning }),
    closedSwitch: await binding.openInput({ name: 'closed-switch', pin: p.closedSwitch, activeLow: gpio.sensorsActiveLow }),
    openSwitch: await binding.openInput({ name: 'open-switch', pin: p.openSwitch, activeLow: gpio.sensorsActiveLow }),
    beam: await binding.openInput({ name: 'beam', pin: p.beam, activeLow: gpio.sensorsActiveLow }),
  };
  return { io, door: new DoorController({ io, config: controllerConfig }), close: () => binding.close() };
}
