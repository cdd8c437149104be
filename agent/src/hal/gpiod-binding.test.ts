import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseGpiodetect, parseGpiomonLine, parseToolsVersion, gpiomonArgs, gpiosetArgs } from './gpiod-cli.js';
import { GpiodBinding } from './gpiod-binding.js';
import { installFakeGpiodTools } from './test-support/fake-gpiod-tools.js';
import { pollUntil } from './test-support/poll.js';

const fakeTools = async (dir: string, version: '1.6.3' | '2.1'): Promise<string> => (await installFakeGpiodTools(dir, version)).log;

const until = (condition: () => Promise<boolean>): Promise<void> => pollUntil(condition, 'condition not met');

describe('libgpiod tool dialects', () => {
  it('recognises v1 and v2 tools and chips from their output', () => {
    expect(parseToolsVersion('gpioset (libgpiod) v1.6.3\nCopyright')).toBe(1);
    expect(parseToolsVersion('gpioset (libgpiod) v2.1')).toBe(2);
    expect(parseGpiodetect('gpiochip0 [pinctrl-bcm2711] (58 lines)\n')).toEqual([{ name: 'gpiochip0', label: 'pinctrl-bcm2711', lines: 58 }]);
  });

  it('builds v1 and v2 arguments and parses both edge formats', () => {
    expect(gpiosetArgs(1, 'gpiochip0', 17, 0)).toEqual(['--mode=signal', 'gpiochip0', '17=0']);
    expect(gpiosetArgs(2, 'gpiochip0', 17, 1)).toEqual(['--interactive', '--chip', 'gpiochip0', '17=1']);
    expect(gpiomonArgs(2, 'gpiochip0', 22)).toContain('%o %E');
    expect(parseGpiomonLine(1, '22 1')).toEqual({ offset: 22, level: 1 });
    expect(parseGpiomonLine(2, '22 falling')).toEqual({ offset: 22, level: 0 });
    expect(parseGpiomonLine(2, 'garbage')).toBeUndefined();
  });
});

describe('gpiod binding driving the tools', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keyway-gpiod-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('with v2 tools, an output starts inactive on the header chip and changes level through interactive set commands', async () => {
    const log = await fakeTools(dir, '2.1');
    const binding = new GpiodBinding({ toolsDir: dir, devRoot: dir });
    const relay = await binding.openOutput({ name: 'relay', pin: 5, activeLow: true });
    await relay.write(true);
    await relay.write(false);
    await relay.close();
    await until(async () => (await readFile(log, 'utf8')).includes('gpioset exit'));
    const lines = (await readFile(log, 'utf8')).trim().split('\n');
    expect(lines).toEqual(['gpioset --interactive --chip gpiochip0 5=1', 'stdin set 5=0', 'stdin set 5=1', 'gpioset exit']);
    await binding.close();
  });

  it('with v1 tools, a new level replaces the holding gpioset process', async () => {
    const log = await fakeTools(dir, '1.6.3');
    const binding = new GpiodBinding({ toolsDir: dir, devRoot: dir });
    const relay = await binding.openOutput({ name: 'relay', pin: 17 });
    // A loaded machine may start the fake later than hold()'s settle; signal it once it is up.
    const logged = (text: string) => async (): Promise<boolean> => (await readFile(log, 'utf8')).includes(text);
    await until(logged('17=0'));
    await relay.write(true);
    await until(logged('17=1'));
    await relay.close();
    const lines = (await readFile(log, 'utf8')).trim().split('\n');
    expect(lines).toEqual(['gpioset --mode=signal gpiochip0 17=0', 'gpioset exit', 'gpioset --mode=signal gpiochip0 17=1', 'gpioset exit']);
  });

  it('an input reads its initial level with gpioget, then follows the edges gpiomon reports', async () => {
    const tools = await installFakeGpiodTools(dir, '2.1');
    await tools.presetInput(22, 1);
    const binding = new GpiodBinding({ toolsDir: dir, devRoot: dir });
    const sensor = await binding.openInput({ name: 'closed-switch', pin: 22 });
    expect(sensor.read()).toBe(true);
    const changes: boolean[] = [];
    sensor.onChange((v) => changes.push(v));
    await tools.edge(22, 0);
    await until(() => Promise.resolve(changes.length > 0));
    expect(changes).toEqual([false]);
    expect(await tools.lines()).toContain('gpiomon --banner --chip gpiochip0 --edges both --format %o %E 22');
    await binding.close();
  });

  it('when the tools are missing, the error names the Debian package', async () => {
    const binding = new GpiodBinding({ toolsDir: join(dir, 'nowhere'), devRoot: dir });
    await expect(binding.openOutput({ name: 'relay', pin: 17 })).rejects.toThrow(/package "gpiod"/);
  });
});
