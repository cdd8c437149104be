import { isKeywayError } from '@keyway/shared';
import { testPattern } from '@keyway/shared/patterns';

/** Where the command writes and how it reads files (injected so tests and the CLI share it). */
export interface PatternCommandIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  readFile: (path: string) => string;
}

export const PATTERN_TEST_USAGE =
  'usage: keyway pattern test --pattern <file|json> --event <file|json>\n' +
  '  prints "match" or "no match"; exit code 0 match, 1 no match, 2 invalid input';

class InputError extends Error {}

function readOption(args: readonly string[], name: string): string | undefined {
  let found: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (arg === `--${name}`) {
      const value = args[i + 1];
      if (value === undefined) throw new InputError(`--${name} needs a value (a file path or inline JSON)`);
      found = value;
      i++;
    } else if (arg.startsWith(`--${name}=`)) {
      found = arg.slice(name.length + 3);
    }
  }
  return found;
}

/** Inline JSON when it looks like JSON, otherwise a file to read. */
function loadText(value: string, what: string, io: PatternCommandIo): string {
  const trimmed = value.trimStart();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) return value;
  try {
    return io.readFile(value);
  } catch (error) {
    throw new InputError(`cannot read the ${what} file ${value}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/**
 * `keyway pattern test`, like EventBridge's TestEventPattern. `args` may start with
 * "pattern test" or "test", or hold only the options. Returns the process exit code.
 */
export function runPatternTest(args: string[], io: PatternCommandIo): number {
  let rest = args;
  if (rest[0] === 'pattern') rest = rest.slice(1);
  if (rest[0] === 'test') rest = rest.slice(1);
  try {
    const unknown = rest.filter((a, i) => a.startsWith('--') && !/^--(pattern|event)(=|$)/.test(a) && !/^--(pattern|event)$/.test(rest[i - 1] ?? ''));
    if (unknown.length > 0) throw new InputError(`unknown option ${unknown[0] ?? ''}`);
    const patternArg = readOption(rest, 'pattern');
    const eventArg = readOption(rest, 'event');
    if (patternArg === undefined || eventArg === undefined) throw new InputError('both --pattern and --event are required');
    const patternText = loadText(patternArg, 'pattern', io);
    const eventText = loadText(eventArg, 'event', io);
    let event: unknown;
    try {
      event = JSON.parse(eventText);
    } catch (error) {
      throw new InputError(`the event is not valid JSON: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (typeof event !== 'object' || event === null || Array.isArray(event)) throw new InputError('the event must be a JSON object');
    const matched = testPattern(patternText, event);
    io.stdout(matched ? 'match\n' : 'no match\n');
    return matched ? 0 : 1;
  } catch (error) {
    if (error instanceof InputError) {
      io.stderr(`${error.message}\n${PATTERN_TEST_USAGE}\n`);
      return 2;
    }
    if (isKeywayError(error)) {
      const path = typeof error.details['path'] === 'string' ? error.details['path'] : '(unknown)';
      const problem = typeof error.details['problem'] === 'string' ? error.details['problem'] : error.message;
      io.stderr(`invalid pattern at ${path}: ${problem}\n`);
      return 2;
    }
    throw error;
  }
}
