/** The `keyway` command line: `keyway <command> ...`; `keyway --help` lists the commands. */
import fs from 'node:fs';
import path from 'node:path';
import { describeError } from '@keyway/shared';
import { API_USAGE, runApiCommand } from './api-commands.js';

const USAGE = `usage:
keyway pattern test --pattern <file|json> --event <file|json>   like EventBridge TestEventPattern
${API_USAGE}`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const io = { stdout: (s: string) => void process.stdout.write(s), stderr: (s: string) => void process.stderr.write(s) };
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    io.stdout(`${USAGE}\n`);
    return command === undefined ? 2 : 0;
  }
  if (command === 'pattern') {
    const { runPatternTest } = await import('./pattern-command.js');
    if (rest[0] !== 'test') {
      io.stderr(`${USAGE}\n`);
      return 2;
    }
    // `npm run keyway -- ...` runs in the repository root; INIT_CWD is where the user typed it, so relative paths are theirs.
    const base = process.env.INIT_CWD ?? process.cwd();
    return runPatternTest(rest.slice(1), { ...io, readFile: (p) => fs.readFileSync(path.resolve(base, p), 'utf8') });
  }
  return runApiCommand(argv, { ...io, env: process.env, fetch });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`keyway: ${describeError(error)}\n`);
    process.exit(2);
  },
);
