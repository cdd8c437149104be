import { readFile } from 'node:fs/promises';
import { ErrorCode, KeywayError } from '@keyway/shared';
import type { Bus } from './bus.js';
import type { BusHandler, SubscriberDeclaration, TargetSpec } from './types.js';

/** A declaration as written in a JSON config file: an in-process handler is named, not embedded. */
type FileDeclaration = Omit<SubscriberDeclaration, 'target'> & {
  target: Exclude<TargetSpec, { kind: 'handler' }> | { kind: 'handler'; handler: string };
};

/**
 * Declares every subscriber of a JSON file (`{ "subscribers": [...] }`) at start. Webhook secrets
 * may be given as `env:NAME` so the file itself holds none. Returns each subscriber's outcome.
 */
export async function declareSubscribersFromFile(
  bus: Bus,
  path: string,
  handlers: Readonly<Record<string, BusHandler>> = {},
): Promise<Record<string, 'created' | 'updated' | 'unchanged'>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (cause) {
    throw new KeywayError(
      ErrorCode.ConfigInvalid,
      `subscriber file ${path} cannot be read as JSON; fix it or remove it`,
      { cause },
    );
  }
  const list = (parsed as { subscribers?: unknown }).subscribers;
  if (!Array.isArray(list)) {
    throw new KeywayError(ErrorCode.ConfigInvalid, `subscriber file ${path} must hold {"subscribers": [...]}`);
  }
  const out: Record<string, 'created' | 'updated' | 'unchanged'> = {};
  for (const raw of list as FileDeclaration[]) {
    out[raw.name] = await bus.declareSubscriber({ ...raw, target: resolveTarget(raw, handlers, path) });
  }
  return out;
}

function resolveTarget(d: FileDeclaration, handlers: Readonly<Record<string, BusHandler>>, path: string): TargetSpec {
  const t = d.target;
  switch (t.kind) {
    case 'handler': {
      const handler = handlers[t.handler];
      if (!handler) {
        throw new KeywayError(
          ErrorCode.ConfigInvalid,
          `${path}: subscriber ${d.name} names handler ${t.handler}, which this hub does not provide`,
        );
      }
      return { kind: 'handler', handler };
    }
    case 'webhook': {
      if (!t.secret.startsWith('env:')) return t;
      const secret = process.env[t.secret.slice(4)];
      if (!secret) {
        throw new KeywayError(
          ErrorCode.ConfigInvalid,
          `${path}: subscriber ${d.name} needs environment variable ${t.secret.slice(4)}`,
        );
      }
      return { ...t, secret };
    }
    case 'mqtt':
      return t;
  }
}
