import { appendFile, chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pollUntil } from './poll.js';

/**
 * Shell stand-ins for the libgpiod tools. They log what they were asked (`log`), take input
 * levels from `level<N>` files and stream edges appended to `ev<N>` files, so the gpiod binding
 * runs its real process handling without a GPIO chip.
 */
export interface FakeGpiodTools {
  dir: string;
  log: string;
  /** Level gpioget reports for a pin. */
  presetInput(pin: number, level: 0 | 1): Promise<void>;
  /** An edge gpiomon reports for a pin; waits until the pin's gpiomon is listening. */
  edge(pin: number, level: 0 | 1): Promise<void>;
  /** Physical level last requested for an output pin, from the gpioset log. */
  outputLevel(pin: number): Promise<0 | 1 | undefined>;
  lines(): Promise<string[]>;
}

export async function installFakeGpiodTools(dir: string, version: '1.6.3' | '2.1'): Promise<FakeGpiodTools> {
  const log = join(dir, 'log');
  await writeFile(log, '');
  const script = (body: string): string => `#!/bin/bash\nLOG=${log}\nDIR=${dir}\n${body}\n`;
  await writeFile(
    join(dir, 'gpioset'),
    script(`
if [ "$1" = "--version" ]; then echo "gpioset (libgpiod) v${version}"; exit 0; fi
if [ "$1" = "--help" ]; then echo "  -i, --interactive  set the lines then wait"; exit 0; fi
# Trap first: once the start line is logged, a TERM is always logged as an exit.
trap 'echo "gpioset exit" >> $LOG; exit 0' TERM
echo "gpioset $*" >> $LOG
if [ "$1" = "--interactive" ]; then
  while read -r line; do
    if [ "$line" = "exit" ]; then echo "gpioset exit" >> $LOG; exit 0; fi
    echo "stdin $line" >> $LOG
  done
fi
while true; do sleep 0.05; done`),
  );
  await writeFile(join(dir, 'gpiodetect'), script('echo "gpiochip0 [pinctrl-rp1] (54 lines)"; echo "gpiochip10 [rp1-gpio] (4 lines)"'));
  await writeFile(join(dir, 'gpioget'), script('PIN=${@: -1}; echo "gpioget $*" >> $LOG; cat $DIR/level$PIN 2>/dev/null || echo 0'));
  await writeFile(
    join(dir, 'gpiomon'),
    // Follows from the size at start, not from wherever tail first looks, so an edge appended
    // after "gpiomon ready" is seen however late tail gets going.
    script(`PIN=\${@: -1}; echo "gpiomon $*" >> $LOG; touch $DIR/ev$PIN
SIZE=$(stat -c %s $DIR/ev$PIN)
tail -c +$((SIZE + 1)) -s 0.02 -f $DIR/ev$PIN & TAIL=$!
trap 'kill $TAIL; exit 0' TERM
echo "gpiomon ready $PIN" >> $LOG
sleep 0.05
if [ "$1" = "--banner" ]; then echo "Monitoring line '$PIN'..."; fi
wait $TAIL`),
  );
  for (const t of ['gpioset', 'gpiodetect', 'gpioget', 'gpiomon']) await chmod(join(dir, t), 0o755);
  await writeFile(join(dir, 'gpiochip0'), '');
  const edgeWord = (level: 0 | 1): string => (version === '2.1' ? (level ? 'rising' : 'falling') : String(level));
  const lines = async (): Promise<string[]> => (await readFile(log, 'utf8')).split('\n').filter(Boolean);
  // An edge appended before gpiomon is listening would be lost, as on real hardware; a test
  // drives edges at a monitored line, so wait until the pin's latest gpiomon is ready.
  const monitorReady = (pin: number): Promise<void> =>
    pollUntil(
      async () => (await lines()).filter((l) => l.startsWith('gpiomon ') && l.endsWith(` ${pin}`)).at(-1) === `gpiomon ready ${pin}`,
      `no fake gpiomon became ready for pin ${pin}`,
      5000,
    );
  return {
    dir,
    log,
    presetInput: (pin, level) => writeFile(join(dir, `level${pin}`), `${level}\n`),
    edge: async (pin, level) => {
      await monitorReady(pin);
      await appendFile(join(dir, `ev${pin}`), `${pin} ${edgeWord(level)}\n`);
    },
    outputLevel: async (pin) => {
      let level: 0 | 1 | undefined;
      for (const line of await lines()) {
        if (!line.startsWith('gpioset') && !line.startsWith('stdin')) continue;
        const m = new RegExp(`(?:^|\\s)${pin}=([01])`).exec(line);
        if (m) level = m[1] === '1' ? 1 : 0;
      }
      return level;
    },
    lines,
  };
}
