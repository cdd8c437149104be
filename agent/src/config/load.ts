import { readFileSync } from 'node:fs';
import { ErrorCode, KeywayError } from '@keyway/shared';
import type { z } from 'zod';
import { AgentConfigSchema, type AgentConfig } from './schema.js';

export interface ConfigProblem {
  /** Dotted key, e.g. `door.warningMs`. */
  key: string;
  value: unknown;
  /** What is allowed, from the schema's description or the validator. */
  allowed: string;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let node: unknown = input;
  for (const segment of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<PropertyKey, unknown>)[segment];
  }
  return node;
}

function describeAt(path: readonly PropertyKey[]): string | undefined {
  let schema: z.ZodType | undefined = AgentConfigSchema;
  for (const segment of path) {
    const shape = unwrapObjectShape(schema);
    schema = shape?.[String(segment)];
    if (!schema) return undefined;
  }
  return schema?.description;
}

function unwrapObjectShape(schema: z.ZodType | undefined): Record<string, z.ZodType> | undefined {
  let s: unknown = schema;
  for (let i = 0; i < 6 && s; i++) {
    const def = (s as { def?: { shape?: Record<string, z.ZodType>; innerType?: unknown; in?: unknown; schema?: unknown } }).def;
    if (!def) return undefined;
    if (def.shape) return def.shape;
    s = def.innerType ?? def.in ?? def.schema;
  }
  return undefined;
}

/** Validates a parsed config object; every problem names the key, the value found and what is allowed. */
export function validateConfig(input: unknown): { ok: true; config: AgentConfig } | { ok: false; problems: ConfigProblem[] } {
  const result = AgentConfigSchema.safeParse(input);
  if (result.success) return { ok: true, config: result.data };
  const problems = result.error.issues.map((issue) => {
    const key = issue.path.map(String).join('.') || '(root)';
    const description = describeAt(issue.path);
    const unknownKeys = issue.code === 'unrecognized_keys' ? ` (unknown keys: ${issue.keys.join(', ')})` : '';
    return {
      key,
      value: issue.code === 'unrecognized_keys' ? issue.keys : valueAt(input, issue.path),
      allowed: `${description ? `${description}; ` : ''}${issue.message}${unknownKeys}`,
    };
  });
  return { ok: false, problems };
}

export function formatProblems(problems: readonly ConfigProblem[]): string {
  return problems.map((p) => `  ${p.key}: got ${JSON.stringify(p.value) ?? 'nothing'}; allowed: ${p.allowed}`).join('\n');
}

/** Reads and validates a JSON config file, or throws CONFIG_INVALID listing every problem. */
export function loadConfig(path: string): AgentConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new KeywayError(ErrorCode.ConfigInvalid, `cannot read config file ${path}; pass --config <file>`, { cause });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new KeywayError(ErrorCode.ConfigInvalid, `config file ${path} is not valid JSON: ${(cause as Error).message}`, { cause });
  }
  const result = validateConfig(json);
  if (!result.ok) {
    throw new KeywayError(ErrorCode.ConfigInvalid, `config file ${path} is invalid:\n${formatProblems(result.problems)}`, { details: { problems: result.problems } });
  }
  return result.config;
}

/** The pinned hub key, inline or from its file. */
export function hubPublicKeyPem(config: AgentConfig): string {
  if (config.hubPublicKey) return config.hubPublicKey;
  const path = config.hubPublicKeyPath ?? '';
  try {
    return readFileSync(path, 'utf8');
  } catch (cause) {
    throw new KeywayError(ErrorCode.ConfigInvalid, `hubPublicKeyPath ${path} cannot be read; provision the hub public key there`, { cause });
  }
}
