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

/** EventBridge's limits: 100 input paths, an 8,192-character template. Keyway also bounds the template's nesting. */
export const MAX_INPUT_PATHS = 100;
export const MAX_TEMPLATE_CHARS = 8192;
export const MAX_TEMPLATE_DEPTH = 32;

function invalid(problem: string): KeywayError {
  return new KeywayError(ErrorCode.ConfigInvalid, `the transformer ${problem}`);
}

/** The template's nesting depth, walked without recursion so any input is measured safely; stops past `limit`. */
function depthOf(template: unknown, limit: number): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[template, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop() as [unknown, number];
    if (node === null || typeof node !== 'object') continue;
    deepest = Math.max(deepest, depth + 1);
    if (deepest > limit) return deepest;
    for (const child of Object.values(node)) stack.push([child, depth + 1]);
  }
  return deepest;
}

/**
 * Checks a transformer once, at declaration, so a bad one fails early with CONFIG_INVALID and not per delivery:
 * input paths are strings starting with "$." under placeholder-safe names, and the template is bounded.
 */
export function checkTransformer(t: InputTransformer): void {
  const paths: unknown = t.inputPaths;
  if (paths === null || typeof paths !== 'object' || Array.isArray(paths)) throw invalid('inputPaths must be an object of name -> "$.path"');
  const entries = Object.entries(paths);
  if (entries.length > MAX_INPUT_PATHS) throw invalid(`has ${entries.length} input paths; at most ${MAX_INPUT_PATHS}`);
  for (const [name, path] of entries) {
    if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw invalid(`input name ${JSON.stringify(name)} may hold only letters, digits, "_", "." and "-"`);
    if (typeof path !== 'string') throw invalid(`input path for ${JSON.stringify(name)} must be a string like "$.data.deviceId"`);
    readPath({}, path);
  }
  if (depthOf(t.template, MAX_TEMPLATE_DEPTH) > MAX_TEMPLATE_DEPTH) throw invalid(`template nests deeper than ${MAX_TEMPLATE_DEPTH} levels`);
  const chars = typeof t.template === 'string' ? t.template.length : (JSON.stringify(t.template) ?? '').length;
  if (chars > MAX_TEMPLATE_CHARS) throw invalid(`template is ${chars} characters; at most ${MAX_TEMPLATE_CHARS}`);
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
