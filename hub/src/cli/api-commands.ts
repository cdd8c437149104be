/**
 * `keyway` commands that talk to a running hub's HTTP API: dead-letter queues, replay, schemas, audit.
 * The hub is named by --url (or KEYWAY_URL) and the API key by --key (or KEYWAY_API_KEY).
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
  options: --url <hub URL, default KEYWAY_URL or http://127.0.0.1:8080>  --key <API key, default KEYWAY_API_KEY>  --json`;

export async function runApiCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: COMMON, allowPositionals: true, strict: true });
  if (values.help) {
    io.stdout(`${API_USAGE}\n`);
    return 0;
  }
  const url = values.url ?? io.env.KEYWAY_URL ?? 'http://127.0.0.1:8080';
  const key = values.key ?? io.env.KEYWAY_API_KEY;
  if (!key) {
    io.stderr('an API key is needed: pass --key or set KEYWAY_API_KEY (the hub writes the admin key to <data>/admin-key)\n');
    return 2;
  }
  const call = async (method: string, route: string, body?: unknown): Promise<{ status: number; body: unknown }> => {
    const response = await io.fetch(`${url}${route}`, {
      method,
      headers: { 'x-api-key': key, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: await response.json() };
  };
  const [command, sub, name] = positionals;
  const filter = { ...(values.type ? { type: values.type } : {}), ...(values.subject ? { subject: values.subject } : {}) };
  let result: { status: number; body: unknown };
  if (command === 'dlq' && sub === 'list' && name) {
    const query = new URLSearchParams({ ...filter, limit: values.limit ?? '50' });
    result = await call('GET', `/v1/subscribers/${encodeURIComponent(name)}/dlq?${query.toString()}`);
  } else if (command === 'dlq' && sub === 'redrive' && name) {
    result = await call('POST', `/v1/subscribers/${encodeURIComponent(name)}/redrive`, filter);
  } else if (command === 'replay' && sub && values.from && values.to) {
    result = await call('POST', `/v1/subscribers/${encodeURIComponent(sub)}/replay`, { from: values.from, to: values.to });
  } else if (command === 'subscribers') {
    result = await call('GET', '/v1/subscribers');
  } else if (command === 'schemas') {
    result = await call('GET', '/v1/schemas');
  } else if (command === 'audit') {
    result = await call('GET', '/v1/schemas-audit');
  } else {
    io.stderr(`unknown or incomplete command: ${positionals.join(' ')}\n${API_USAGE}\n`);
    return 2;
  }
  const ok = result.status < 400;
  (ok ? io.stdout : io.stderr)(`${JSON.stringify(result.body, null, 2)}\n`);
  return ok ? 0 : 1;
}
