import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimGpioBinding, SimGpioChip } from '@keyway/hardware-sim';
import { GpiodBinding } from './gpiod-binding.js';
import { describeGpioBindingContract } from './test-support/binding-contract.js';
import { installFakeGpiodTools } from './test-support/fake-gpiod-tools.js';

describeGpioBindingContract('simulator', () => {
  const chip = new SimGpioChip();
  const binding = new SimGpioBinding(chip);
  return Promise.resolve({
    binding,
    outputLevel: (pin) => Promise.resolve(chip.level(pin)),
    presetInput: (pin, level) => Promise.resolve(chip.drive(pin, level)),
    driveInput: (pin, level) => Promise.resolve(chip.drive(pin, level)),
    dispose: () => binding.close(),
  });
});

for (const version of ['2.1', '1.6.3'] as const) {
  describeGpioBindingContract(`libgpiod tools v${version} (fake tools)`, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'keyway-gpiod-contract-'));
    const tools = await installFakeGpiodTools(dir, version);
    const binding = new GpiodBinding({ toolsDir: dir, devRoot: dir });
    return {
      binding,
      outputLevel: (pin) => tools.outputLevel(pin),
      presetInput: (pin, level) => tools.presetInput(pin, level),
      driveInput: (pin, level) => tools.edge(pin, level),
      dispose: async () => {
        await binding.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  });
}
