#!/usr/bin/env node
/**
 * Standalone simulated keypad for demos: creates a pty, prints its path, then types what you
 * enter on stdin (e.g. `1234#`) as key frames and prints the bell/LED commands the agent sends.
 *
 *   npx tsx hardware-sim/src/cli.ts [--link /tmp/keyway-keypad]
 */
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { hasSocat, SimSerialKeypad } from './keypad/sim-keypad.js';

const USAGE = 'usage: npx tsx hardware-sim/src/cli.ts [--link <path of the pty link, default /tmp/keyway-keypad>]';

let linkPath: string;
try {
  const { values } = parseArgs({ options: { link: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true });
  if (values.help === true) {
    console.log(USAGE);
    process.exit(0);
  }
  linkPath = values.link ?? '/tmp/keyway-keypad';
  if (linkPath === '') throw new Error('--link needs a path');
} catch (error) {
  console.error(`${error instanceof Error ? error.message : String(error)}\n${USAGE}`);
  process.exit(2);
}

if (!hasSocat()) {
  console.error('socat is not installed: apt-get install socat');
  process.exit(1);
}

const keypad = new SimSerialKeypad({ linkPath });
await keypad.connect();
console.log(`simulated keypad on ${linkPath}`);
console.log('type keys (0-9 * #) and press Enter; "pin 1234" sends a whole PIN; "unplug" / "plug" simulate a disconnect');
keypad.onCommand((c) => console.log('agent ->', JSON.stringify(c)));
await keypad.hello();

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const text = line.trim();
  const run = async (): Promise<void> => {
    if (text === 'unplug') await keypad.disconnect();
    else if (text === 'plug') await keypad.connect().then(() => keypad.hello());
    else if (text.startsWith('pin ')) await keypad.submitPin(text.slice(4).trim());
    else await keypad.type(text.replace(/[^0-9*#]/g, ''));
  };
  run().catch((error: unknown) => console.error(String(error)));
});
const shutdown = (): void => {
  rl.close();
  void keypad.stop().then(() => process.exit(0));
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
rl.on('close', shutdown);
