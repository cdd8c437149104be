import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isKeywayError } from '@keyway/shared';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { assertReadWrite, groupName, type AccessProbe } from './access.js';
import { OnoffBinding } from './onoff-binding.js';
import { relayPowerOnWarning } from './power-on.js';

/** Builds a fake /sys/class/gpio tree like the kernels we meet in the field. */
async function fakeSysfs(root: string, chips: Array<{ base: number; ngpio: number; label: string }>): Promise<void> {
  await writeFile(join(root, 'export'), '');
  await writeFile(join(root, 'unexport'), '');
  for (const chip of chips) {
    const dir = join(root, `gpiochip${chip.base}`);
    await mkdir(dir);
    await writeFile(join(dir, 'base'), `${chip.base}\n`);
    await writeFile(join(dir, 'ngpio'), `${chip.ngpio}\n`);
    await writeFile(join(dir, 'label'), `${chip.label}\n`);
  }
}

describe('onoff binding: BCM pin to sysfs number', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'keyway-sysfs-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('on a Pi 4 with kernel 6.6 (base 512), BCM 17 is sysfs 529', async () => {
    await fakeSysfs(root, [
      { base: 512, ngpio: 58, label: 'pinctrl-bcm2711' },
      { base: 570, ngpio: 8, label: 'raspberrypi-exp-gpio' },
    ]);
    expect(await new OnoffBinding({ sysfsRoot: root }).resolve(17)).toBe(529);
  });

  it('on a Pi 5 (RP1 at base 571, other chips listed first), BCM 17 is sysfs 588', async () => {
    await fakeSysfs(root, [
      { base: 512, ngpio: 32, label: 'gpio-brcmstb@107d508500' },
      { base: 544, ngpio: 4, label: 'gpio-brcmstb@107d517c00' },
      { base: 571, ngpio: 54, label: 'pinctrl-rp1' },
    ]);
    expect(await new OnoffBinding({ sysfsRoot: root }).resolve(17)).toBe(588);
  });

  it('on an older kernel (base 0), BCM 17 is sysfs 17', async () => {
    await fakeSysfs(root, [{ base: 0, ngpio: 54, label: 'pinctrl-bcm2835' }]);
    expect(await new OnoffBinding({ sysfsRoot: root }).resolve(17)).toBe(17);
  });

  it('with a configured chip label, that chip is used even if a known one exists', async () => {
    await fakeSysfs(root, [
      { base: 512, ngpio: 58, label: 'pinctrl-bcm2711' },
      { base: 600, ngpio: 16, label: 'my-expander' },
    ]);
    expect(await new OnoffBinding({ sysfsRoot: root, chipLabel: 'my-expander' }).resolve(3)).toBe(603);
  });

  it('when the pin is beyond the chip, or no chip is recognisable, the error says what to fix', async () => {
    await fakeSysfs(root, [
      { base: 100, ngpio: 8, label: 'a' },
      { base: 200, ngpio: 8, label: 'b' },
    ]);
    await expect(new OnoffBinding({ sysfsRoot: root }).resolve(1)).rejects.toThrow(/chipLabel/);
    await expect(new OnoffBinding({ sysfsRoot: root, chipLabel: 'a' }).resolve(9)).rejects.toThrow(/does not exist on a/);
  });

  it('when sysfs GPIO is absent, opening a line says so and names the kernel option it needs', async () => {
    const error: unknown = await new OnoffBinding({ sysfsRoot: join(root, 'missing') })
      .openOutput({ name: 'relay', pin: 17 })
      .catch((e: unknown) => e);
    expect(isKeywayError(error, 'HARDWARE_UNAVAILABLE')).toBe(true);
    expect(String((error as Error).message)).toMatch(/sysfs GPIO is not available on this kernel \(CONFIG_GPIO_SYSFS\)/);
  });
});

describe('GPIO access diagnosis', () => {
  const denied: AccessProbe = {
    access: () => Promise.reject(Object.assign(new Error('EACCES'), { code: 'EACCES' })),
    stat: () => Promise.resolve({ uid: 0, gid: 997, mode: 0o100770 }),
    groupFile: () => Promise.resolve('root:x:0:\ndialout:x:20:pi\ngpio:x:997:\n'),
  };

  it('when the export file is not writable, the error names the file, its mode and the group to join', async () => {
    const error: unknown = await assertReadWrite('/sys/class/gpio/export', 'sysfs GPIO export', denied).catch((e: unknown) => e);
    expect(isKeywayError(error, 'HARDWARE_UNAVAILABLE')).toBe(true);
    const message = (error as Error).message;
    expect(message).toContain('/sys/class/gpio/export');
    expect(message).toContain('mode 770');
    expect(message).toContain('usermod -aG gpio');
  });

  it('when the file is missing, the error says which binding needs what', async () => {
    const missing: AccessProbe = { ...denied, access: () => Promise.reject(Object.assign(new Error('ENOENT'), { code: 'ENOENT' })) };
    await expect(assertReadWrite('/dev/gpiochip0', 'GPIO character device', missing)).rejects.toThrow(/does not exist/);
  });

  it('finds group names by gid', () => {
    expect(groupName('a:x:1:\ngpio:x:997:pi\n', 997)).toBe('gpio');
    expect(groupName('a:x:1:\n', 5)).toBeUndefined();
  });
});

describe('relay power-on level', () => {
  it('an active-high relay on a pulled-down pin (GPIO 17) is fine; on a pulled-up pin (GPIO 4) it warns', () => {
    expect(relayPowerOnWarning(17, false)).toBeUndefined();
    expect(relayPowerOnWarning(4, false)).toMatch(/pulled high at power-on/);
  });

  it('an active-low relay on a pulled-up pin (GPIO 5) is fine; on a pulled-down pin (GPIO 17) it warns', () => {
    expect(relayPowerOnWarning(5, true)).toBeUndefined();
    expect(relayPowerOnWarning(17, true)).toMatch(/pulled low at power-on/);
  });

  it('pins taken by the serial console or HAT EEPROM always warn', () => {
    expect(relayPowerOnWarning(14, false)).toMatch(/UART0/);
    expect(relayPowerOnWarning(0, true)).toMatch(/EEPROM/);
  });
});
