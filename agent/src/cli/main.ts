import { parseArgs } from 'node:util';
import { describeError, isKeywayError } from '@keyway/shared';
import { loadConfig } from '../config/index.js';
import { checkConfig, gpioTest, outbox, runAgent, status, type Io } from './commands.js';

const HELP: Record<string, string> = {
  '': `keyway-agent <command> [options]

Commands:
  run            run the agent until SIGTERM (graceful: relay released, database closed)
  status         door, connectivity, outbox depth, last sync, trusted time
  outbox         inspect the outbox (counts by type, oldest rows)
  check-config   validate the config file and the pinned hub key
  gpio-test      blink the warning light and read the sensors (never the relay)

Common options:
  -c, --config <file>   config file (JSON); default $KEYWAY_AGENT_CONFIG or /etc/keyway/agent.json
  -h, --help            help for a command, e.g. keyway-agent status --help`,
  run: `keyway-agent run [--config <file>]
  Runs the agent: outbox, MQTT sync, grants, commands, door and keypad. Stops gracefully on SIGTERM/SIGINT.`,
  status: `keyway-agent status [--config <file>] [--json]
  Reads status.json (written by the running agent) and the outbox database, read-only.`,
  outbox: `keyway-agent outbox [--config <file>] [--limit <n>] [--json]
  Prints outbox depth, counts by event type and the <n> oldest rows (default 20). Safe while the agent runs.`,
  'check-config': `keyway-agent check-config [--config <file>]
  Validates the config; every error names the key, the value found and what is allowed. Exit 2 when invalid.`,
  'gpio-test': `keyway-agent gpio-test [--config <file>] [--blinks <n>]
  On the configured binding (sim or sysfs), blinks the warning light <n> times (default 3) and prints the
  closed/open reed switches and the beam after each blink. The relay is never pulsed.`,
};

const consoleIo: Io = { out: (l) => process.stdout.write(`${l}\n`), err: (l) => process.stderr.write(`${l}\n`) };

export async function main(argv: readonly string[], io: Io = consoleIo): Promise<number> {
  const [command = '', ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    options: {
      config: { type: 'string', short: 'c' },
      help: { type: 'boolean', short: 'h' },
      json: { type: 'boolean' },
      limit: { type: 'string' },
      blinks: { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (command === '' || command === '--help' || command === '-h' || command === 'help') {
    io.out(HELP['']!);
    return command === '' ? 1 : 0;
  }
  const help = HELP[command];
  if (help === undefined) {
    io.err(`unknown command "${command}"\n\n${HELP['']}`);
    return 1;
  }
  if (values.help) {
    io.out(help);
    return 0;
  }
  const configPath = values.config ?? process.env.KEYWAY_AGENT_CONFIG ?? '/etc/keyway/agent.json';
  switch (command) {
    case 'run':
      return runAgent(configPath, io);
    case 'status':
      return status(configPath, io, values.json ?? false);
    case 'outbox': {
      const limit = wholeNumber('limit', values.limit, 20, io);
      return limit === undefined ? 2 : outbox(configPath, io, limit, values.json ?? false);
    }
    case 'check-config':
      return checkConfig(configPath, io);
    case 'gpio-test': {
      const blinks = wholeNumber('blinks', values.blinks, 3, io);
      return blinks === undefined ? 2 : gpioTest(loadConfig(configPath), io, blinks);
    }
    default:
      io.err(`unknown command "${command}"`);
      return 1;
  }
}

/** An option that must be a whole number from 1 to 100,000; undefined (after saying why) when it is not. */
function wholeNumber(name: string, value: string | undefined, fallback: number, io: Io): number | undefined {
  if (value === undefined) return fallback;
  const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (n >= 1 && n <= 100_000) return n;
  io.err(`--${name} must be a whole number from 1 to 100000, got ${JSON.stringify(value)}\n`);
  return undefined;
}

/** Runs when executed directly (`tsx agent/src/cli/main.ts ...` or the bundled binary). */
export function cli(): void {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
      exitIfStuck(code);
    },
    (error: unknown) => {
      process.stderr.write(`keyway-agent: ${isKeywayError(error) ? `${error.code}: ` : ''}${describeError(error)}\n`);
      process.exitCode = isKeywayError(error, 'CONFIG_INVALID') ? 2 : 1;
    },
  );
}

/**
 * Everything has been stopped and closed when a command returns. Should a library still hold a handle
 * (a socket it did not close, a timer it did not clear), the process would stay up until systemd
 * kills it; give the event loop a moment to drain, then exit anyway and say what was left open.
 */
function exitIfStuck(code: number): void {
  const timer = setTimeout(() => {
    process.stderr.write(`keyway-agent: exiting with resources still open: ${process.getActiveResourcesInfo().join(', ')}\n`);
    process.exit(code);
  }, 2000);
  timer.unref();
}
