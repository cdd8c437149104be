/**
 * `keyway` commands that talk to a running hub's HTTP API: dead-letter queues, replay, schemas, audit.
 * The hub is named by --url (or KEYWAY_URL) and the API key by --key (or KEYWAY_API_KEY).
 * Exit codes: 0 done, 1 the hub refused or could not be reached, 2 the command line is wrong.
 */
import { parseArgs } from 'node:util';

export interface CliIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  env: NodeJS.ProcessEnv;
  fetch: typeof fetch;
}

const COMMON = {
  url: { type: 'string' },
  key: { type: 'string' },
  type: { type: 'string' },
  subject: { type: 'string' },
  limit: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const API_USAGE = `keyway dlq list <subscriber> [--type T] [--subject S] [--limit N]
keyway dlq redrive <subscriber> [--type T] [--subject S]
keyway replay <subscriber> --from <ISO time> --to <ISO time>
keyway subscribers
keyway schemas
keyway audit
  options: --url <hub URL, default KEYWAY_URL or http://127.0.0.1:8080>  --key <API key, default KEYWAY_API_KEY>
           --json  print the hub's answer as one line of JSON (errors too), for scripts
  exit codes: 0 done, 1 the hub refused or could not be reached, 2 the command line is wrong`;

const DEFAULT_URL = 'http://127.0.0.1:8080';

interface Request {
  method: 'GET' | 'POST';
  route: string;
  body?: unknown;
}

type Values = ReturnType<typeof parseArgs<{ options: typeof COMMON; allowPositionals: true; strict: true }>>['values'];

class UsageError extends Error {}

function isoTime(option: 'from' | 'to', value: string | undefined): string {
  if (value === undefined) throw new UsageError('replay needs --from and --to (ISO times, e.g. 2026-11-28T00:00:00Z)');
  if (Number.isNaN(Date.parse(value))) throw new UsageError(`--${option} is not an ISO time: ${value}`);
  return value;
}

function subscriberName(command: string, name: string | undefined): string {
  if (name === undefined) throw new UsageError(`${command} needs a subscriber name (see: keyway subscribers)`);
  return encodeURIComponent(name);
}

/** Turns the command line into one HTTP request, or throws UsageError naming what is wrong. */
function plan(positionals: readonly string[], values: Values): Request {
  const [command, sub, name] = positionals;
  const filter = { ...(values.type ? { type: values.type } : {}), ...(values.subject ? { subject: values.subject } : {}) };
  const expect = (count: number): void => {
    const unexpected = positionals.slice(count);
    if (unexpected.length > 0) throw new UsageError(`unexpected argument: ${unexpected.join(' ')}`);
  };
  switch (command) {
    case 'dlq': {
      if (sub !== 'list' && sub !== 'redrive') throw new UsageError(`dlq needs "list" or "redrive", got ${sub === undefined ? 'nothing' : `"${sub}"`}`);
      const route = `/v1/subscribers/${subscriberName(`dlq ${sub}`, name)}`;
      expect(3);
      if (sub === 'redrive') return { method: 'POST', route: `${route}/redrive`, body: filter };
      const limit = values.limit ?? '50';
      if (!/^[1-9]\d*$/.test(limit)) throw new UsageError(`--limit must be a positive whole number, got ${limit}`);
      return { method: 'GET', route: `${route}/dlq?${new URLSearchParams({ ...filter, limit }).toString()}` };
    }
    case 'replay': {
      const route = `/v1/subscribers/${subscriberName('replay', sub)}/replay`;
      expect(2);
      return { method: 'POST', route, body: { from: isoTime('from', values.from), to: isoTime('to', values.to) } };
    }
    case 'subscribers':
    case 'schemas':
    case 'audit':
      expect(1);
      return { method: 'GET', route: command === 'audit' ? '/v1/schemas-audit' : `/v1/${command}` };
    default:
      throw new UsageError(`unknown command: ${command ?? '(none)'}`);
  }
}

function hubUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`--url (or KEYWAY_URL) must be the hub's http(s) URL, e.g. ${DEFAULT_URL}; got ${raw}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--url (or KEYWAY_URL) must be an http(s) URL; got ${raw}`);
  return raw.replace(/\/+$/, '');
}

/** The hub's `{error: {code, message, details}}` as one line: message, code, status, then issues or details. */
function describeRefusal(status: number, body: unknown): string {
  const error = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } } | null)?.error;
  if (error === undefined || typeof error.message !== 'string') return `the hub answered HTTP ${status}: ${JSON.stringify(body)}`;
  let line = `${error.message} (${String(error.code)}, HTTP ${status})`;
  const details = error.details as { issues?: unknown } | undefined;
  if (Array.isArray(details?.issues)) {
    const issues = details.issues.map((i: { instancePath?: string; path?: string; message?: string }) => `${i.path ?? i.instancePath ?? ''} ${i.message ?? ''}`.trim());
    line += `: ${issues.join('; ')}`;
  } else if (details !== undefined && Object.keys(details).length > 0) {
    line += ` ${JSON.stringify(details)}`;
  }
  return line;
}

/** Why fetch failed, from its cause (ECONNREFUSED, ENOTFOUND, ...). */
function unreachable(url: string, error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
  const why = typeof cause?.code === 'string' ? cause.code : typeof cause?.message === 'string' ? cause.message : String(error);
  return `could not reach the hub at ${url} (${why}); is it running? Name it with --url or KEYWAY_URL`;
}

export async function runApiCommand(argv: string[], io: CliIo): Promise<number> {
  const fail = (code: 1 | 2, message: string): number => {
    io.stderr(`keyway: ${message}\n`);
    return code;
  };
  let values: Values;
  let request: Request;
  let url: string;
  try {
    const parsed = parseArgs({ args: argv, options: COMMON, allowPositionals: true, strict: true });
    values = parsed.values;
    if (values.help) {
      io.stdout(`${API_USAGE}\n`);
      return 0;
    }
    request = plan(parsed.positionals, values);
    url = hubUrl(values.url ?? io.env.KEYWAY_URL ?? DEFAULT_URL);
  } catch (error) {
    // parseArgs throws TypeError with a code (ERR_PARSE_ARGS_UNKNOWN_OPTION, ...) and a clear message.
    if (error instanceof UsageError || (error instanceof TypeError && 'code' in error)) return fail(2, `${error.message}\n${API_USAGE}`);
    throw error;
  }
  const key = values.key ?? io.env.KEYWAY_API_KEY;
  if (!key) return fail(2, 'an API key is needed: pass --key or set KEYWAY_API_KEY (the hub writes the admin key to <data>/admin-key)');

  let response: Response;
  try {
    response = await io.fetch(`${url}${request.route}`, {
      method: request.method,
      headers: { 'x-api-key': key, ...(request.body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(request.body === undefined ? {} : { body: JSON.stringify(request.body) }),
    });
  } catch (error) {
    return fail(1, unreachable(url, error));
  }
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return fail(1, `the server at ${url} answered HTTP ${response.status} with a body that is not JSON; is it a Keyway hub? (${text.slice(0, 80)})`);
  }
  if (response.ok) {
    io.stdout(`${values.json ? JSON.stringify(body) : JSON.stringify(body, null, 2)}\n`);
    return 0;
  }
  if (values.json) {
    io.stderr(`${JSON.stringify(body)}\n`);
    return 1;
  }
  return fail(1, describeRefusal(response.status, body));
}
