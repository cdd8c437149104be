import { describe, expect, it } from 'vitest';
import { formatProblems, validateConfig } from './index.js';

const minimal = {
  version: 1,
  deviceId: 'garage-1',
  broker: { url: 'mqtt://127.0.0.1:1883' },
  hubPublicKey: '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n',
};

describe('agent config', () => {
  it('a minimal config is valid and gets documented defaults', () => {
    const result = validateConfig(minimal);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.config.door.warningMs).toBe(5000);
    expect(result.config.gpio.pins.relay).toBe(17);
    expect(result.config.outbox.maxRows).toBe(1_000_000);
  });

  it('every error names the key, the value and what is allowed', () => {
    const result = validateConfig({ ...minimal, deviceId: 'bad id!', door: { warningMs: 1000 }, broker: { url: 'http://x' }, extra: 1 });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const byKey = new Map(result.problems.map((p) => [p.key, p]));
    expect(byKey.get('door.warningMs')).toMatchObject({ value: 1000 });
    expect(byKey.get('door.warningMs')?.allowed).toMatch(/5000-60000/);
    expect(byKey.get('deviceId')).toMatchObject({ value: 'bad id!' });
    expect(byKey.get('broker.url')?.allowed).toMatch(/mqtt:\/\//);
    expect(formatProblems(result.problems)).toMatch(/extra/);
  });

  it('gpio.binding is "sim" or "sysfs": "gpiod" is refused, and chipLabel replaces chip', () => {
    const gpiod = validateConfig({ ...minimal, gpio: { binding: 'gpiod' } });
    expect(gpiod.ok).toBe(false);
    if (!gpiod.ok) expect(gpiod.problems.find((p) => p.key === 'gpio.binding')).toMatchObject({ value: 'gpiod' });
    const oldChip = validateConfig({ ...minimal, gpio: { binding: 'sim', chip: 'gpiochip0' } });
    expect(oldChip.ok).toBe(false);
    const labelled = validateConfig({ ...minimal, gpio: { binding: 'sysfs', chipLabel: 'pinctrl-rp1' } });
    expect(labelled.ok && labelled.config.gpio).toMatchObject({ binding: 'sysfs', chipLabel: 'pinctrl-rp1' });
  });

  it('a config without the pinned hub key is refused', () => {
    const { hubPublicKey: _omit, ...rest } = minimal;
    const result = validateConfig(rest);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems[0]?.allowed).toMatch(/hubPublicKey/);
  });

  it('on real GPIO, a relay pin whose power-on pull would energise the relay is refused unless an external pull is declared', () => {
    const gpio = (extra: Record<string, unknown>) => ({ ...minimal, gpio: { binding: 'sysfs', ...extra } });
    expect(validateConfig(gpio({})).ok).toBe(true);
    const activeLow = validateConfig(gpio({ relayActiveLow: true }));
    expect(activeLow.ok).toBe(false);
    if (activeLow.ok) return;
    expect(activeLow.problems[0]?.key).toBe('gpio.pins.relay');
    expect(formatProblems(activeLow.problems)).toMatch(/pulled low at power-on/);
    expect(validateConfig(gpio({ relayActiveLow: true, pins: { relay: 5, warning: 27, closedSwitch: 22, openSwitch: 23, beam: 24 } })).ok).toBe(true);
    expect(validateConfig(gpio({ pins: { relay: 14, warning: 27, closedSwitch: 22, openSwitch: 23, beam: 24 } })).ok).toBe(false);
    expect(validateConfig(gpio({ relayActiveLow: true, relayExternalPull: true })).ok).toBe(true);
    // The simulator models a correctly wired pin.
    expect(validateConfig({ ...minimal, gpio: { relayActiveLow: true } }).ok).toBe(true);
  });

  it('two lines on the same pin are refused', () => {
    const result = validateConfig({ ...minimal, gpio: { pins: { relay: 17, warning: 17, closedSwitch: 22, openSwitch: 23, beam: 24 } } });
    expect(result.ok).toBe(false);
  });
});
