import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, KeywayError } from '@keyway/shared';

/**
 * Translates BCM pin numbers to sysfs GPIO numbers. Since Raspberry Pi kernel 6.6 the main
 * chip no longer starts at 0 (512 on a Pi 4, 571 on a Pi 5), so the number is the chip's
 * `base` plus the BCM offset, read from /sys/class/gpio/gpiochip* every time, never assumed.
 */
export interface SysfsChip {
  /** Directory name, e.g. `gpiochip512`. */
  name: string;
  base: number;
  ngpio: number;
  label: string;
}

/** Labels of the chip that carries the 40-pin header's BCM GPIOs, oldest Pi to newest. */
export const HEADER_CHIP_LABELS = ['pinctrl-bcm2835', 'pinctrl-bcm2711', 'pinctrl-bcm2712', 'pinctrl-rp1'] as const;

export async function readGpioChips(sysfsRoot: string): Promise<SysfsChip[]> {
  let entries: string[];
  try {
    entries = await readdir(sysfsRoot);
  } catch (error) {
    throw new KeywayError(
      ErrorCode.HardwareUnavailable,
      `cannot list ${sysfsRoot}: sysfs GPIO is not available on this kernel (CONFIG_GPIO_SYSFS); this release drives the door through sysfs only, so use a kernel that has it`,
      { cause: error, details: { path: sysfsRoot } },
    );
  }
  const chips: SysfsChip[] = [];
  for (const name of entries.filter((e) => /^gpiochip\d+$/.test(e)).sort()) {
    const dir = join(sysfsRoot, name);
    const read = async (file: string): Promise<string> => (await readFile(join(dir, file), 'utf8')).trim();
    const [base, ngpio, label] = await Promise.all([read('base'), read('ngpio'), read('label')]);
    chips.push({ name, base: Number(base), ngpio: Number(ngpio), label });
  }
  return chips;
}

/** Picks the header chip: the configured label, else a known Pi label, else the only chip. */
export function pickHeaderChip(chips: SysfsChip[], label?: string): SysfsChip {
  const found = chips.map((c) => `${c.name} (${c.label}, base ${c.base})`).join(', ') || 'none';
  if (label !== undefined) {
    const chip = chips.find((c) => c.label === label);
    if (!chip) throw new KeywayError(ErrorCode.ConfigInvalid, `no GPIO chip labelled "${label}"; found: ${found}. Fix gpio.chipLabel`, { details: { label } });
    return chip;
  }
  for (const known of HEADER_CHIP_LABELS) {
    const chip = chips.find((c) => c.label === known);
    if (chip) return chip;
  }
  if (chips.length === 1 && chips[0]) return chips[0];
  throw new KeywayError(
    ErrorCode.HardwareUnavailable,
    `cannot tell which GPIO chip carries the header pins; found: ${found}. Set gpio.chipLabel to one of those labels`,
    { details: { chips } },
  );
}

/** sysfs number for a BCM pin on the given chip. */
export function sysfsNumber(chip: SysfsChip, bcm: number): number {
  if (!Number.isInteger(bcm) || bcm < 0 || bcm >= chip.ngpio) {
    throw new KeywayError(ErrorCode.ConfigInvalid, `GPIO ${bcm} does not exist on ${chip.label} (lines 0-${chip.ngpio - 1}); fix the pin in the config`, {
      details: { bcm, chip: chip.name },
    });
  }
  return chip.base + bcm;
}
