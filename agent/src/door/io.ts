import type { GpioBinding, LineSpec } from '../hal/types.js';
import type { DoorIo } from './types.js';

type PinConfig = Omit<LineSpec, 'name'>;

/** Pins of one garage, as BCM numbers with their wiring polarity. */
export interface DoorPinConfig {
  relay: PinConfig;
  warning: PinConfig;
  closedSwitch: PinConfig;
  openSwitch: PinConfig;
  beam: PinConfig;
}

/** Opens the door's lines from any binding. Outputs come up inactive; nothing is pulsed. */
export async function openDoorIo(binding: GpioBinding, pins: DoorPinConfig): Promise<DoorIo> {
  const [relay, warning] = [await binding.openOutput({ name: 'relay', ...pins.relay }), await binding.openOutput({ name: 'warning', ...pins.warning })];
  const closedSwitch = await binding.openInput({ name: 'closed-switch', ...pins.closedSwitch });
  const openSwitch = await binding.openInput({ name: 'open-switch', ...pins.openSwitch });
  const beam = await binding.openInput({ name: 'beam', ...pins.beam });
  return { relay, warning, closedSwitch, openSwitch, beam };
}
