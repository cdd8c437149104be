import { ErrorCode, KeywayError } from '@keyway/shared';
import type { InputTransformer } from './types.js';

const PLACEHOLDER = /<([A-Za-z0-9_.-]+)>/g;

/** Reads `$.a.b.c` (dot paths only, as EventBridge input paths mostly are). `$` is the whole event. */
export function readPath(value: unknown, path: string): unknown {
  if (path === '$') return value;
  if (!path.startsWith('$.')) {
    throw new KeywayError(ErrorCode.ConfigInvalid, `input path ${JSON.stringify(path)} must start with "$."`);
  }
  let cur: unknown = value;
  for (const key of path.slice(2).split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

/** Checks paths once at declaration so a bad transformer fails early, not per delivery. */
export function checkTransformer(t: InputTransformer): void {
  for (const path of Object.values(t.inputPaths)) readPath({}, path);
}

function fill(text: string, values: ReadonlyMap<string, unknown>): unknown {
  const whole = /^<([A-Za-z0-9_.-]+)>$/.exec(text);
  if (whole?.[1] !== undefined && values.has(whole[1])) return values.get(whole[1]);
  return text.replace(PLACEHOLDER, (m, name: string) => {
    if (!values.has(name)) return m;
    const v = values.get(name);
    if (v === undefined || v === null) return '';
    return typeof v === 'string' ? v : JSON.stringify(v);
  });
}

function walk(template: unknown, values: ReadonlyMap<string, unknown>): unknown {
  if (typeof template === 'string') return fill(template, values);
  if (Array.isArray(template)) return template.map((t) => walk(t, values));
  if (template !== null && typeof template === 'object') {
    return Object.fromEntries(Object.entries(template).map(([k, v]) => [k, walk(v, values)]));
  }
  return template;
}

/**
 * Applies a transformer: a string template yields a string (placeholders interpolated); a JSON
 * template yields JSON where a string that is exactly `<name>` takes the picked value as is.
 */
export function applyTransformer(t: InputTransformer, event: unknown): unknown {
  const values = new Map<string, unknown>();
  for (const [name, path] of Object.entries(t.inputPaths)) values.set(name, readPath(event, path));
  return walk(t.template, values);
}
