/**
 * What a header pin does before any program drives it: the SoC's reset-default pull. On
 * BCM2835/BCM2711 (Pi 1-4, Zero) GPIO 0-8 are pulled up and 9-27 pulled down; GPIO 2 and 3
 * also carry 1.8 kOhm pull-ups on the board. The Raspberry Pi documentation gives the same
 * defaults for the Pi 5's RP1; see WIRING.md. A relay board must stay released at that level.
 */
export type PowerOnLevel = 'high' | 'low';

export function powerOnLevel(bcm: number): PowerOnLevel | undefined {
  if (!Number.isInteger(bcm) || bcm < 0 || bcm > 27) return undefined;
  return bcm <= 8 ? 'high' : 'low';
}

/** Pins whose idle level is taken over by a common peripheral (serial console on UART0). */
const BUSY_AT_BOOT: Record<number, string> = {
  0: 'the HAT ID EEPROM (ID_SD)',
  1: 'the HAT ID EEPROM (ID_SC)',
  14: 'UART0 TXD, which idles high when the serial console is enabled',
  15: 'UART0 RXD',
};

/**
 * A warning for the log when the relay pin does not keep the relay released from power-on
 * until the agent starts, or undefined when the pin is a good choice.
 */
export function relayPowerOnWarning(bcm: number, activeLow: boolean): string | undefined {
  const busy = BUSY_AT_BOOT[bcm];
  if (busy) return `relay on GPIO ${bcm}: that pin is used by ${busy}; the relay may close at boot. Move it (see WIRING.md)`;
  const level = powerOnLevel(bcm);
  if (level === undefined) return `relay on GPIO ${bcm}: power-on level unknown for this pin; verify the relay stays released at boot`;
  const releasedAt: PowerOnLevel = activeLow ? 'high' : 'low';
  if (level === releasedAt) return undefined;
  const better = activeLow ? 'GPIO 4-8 (pulled up at reset)' : 'GPIO 9-13 or 16-27 (pulled down at reset)';
  return (
    `relay on GPIO ${bcm} (${activeLow ? 'active-low' : 'active-high'} board): the pin is pulled ${level} at power-on, ` +
    `which energises the relay until the agent starts and may move the door. Use ${better}, or add an external pull resistor`
  );
}
