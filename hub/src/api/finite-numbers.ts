import type { FastifyInstance } from 'fastify';

/**
 * ajv coerces a query or body string such as "Infinity" or "1e400" to Infinity for an `integer` or `number` field, and
 * then skips that field's bounds (they are checked on finite numbers only), so `?limit=1e400` reached SQLite and
 * `"maxUses": "Infinity"` a grant. This keyword refuses non-finite numbers; `requireFiniteNumbers` adds it to every
 * integer and number in a route's schemas as the route is registered.
 */
const FINITE_KEYWORD = 'x-finite';

/** What the plugin uses of Fastify's ajv (v8) instance, so hub needs no ajv types of its own. */
interface AjvLike {
  addKeyword(definition: {
    keyword: string;
    schemaType: 'boolean';
    errors: false;
    error: { message: string };
    validate: (schema: boolean, data: unknown) => boolean;
  }): unknown;
}

/** An ajv plugin for Fastify's `ajv.plugins` option. */
export function finiteKeyword<A extends AjvLike>(ajv: A): A {
  ajv.addKeyword({
    keyword: FINITE_KEYWORD,
    schemaType: 'boolean',
    errors: false,
    error: { message: 'must be a finite number' },
    validate: (_required, data) => typeof data !== 'number' || Number.isFinite(data),
  });
  return ajv;
}

function markNumbers(schema: unknown, seen: Set<object>): void {
  if (typeof schema !== 'object' || schema === null || seen.has(schema)) return;
  seen.add(schema);
  if (Array.isArray(schema)) {
    for (const item of schema) markNumbers(item, seen);
    return;
  }
  const node = schema as Record<string, unknown>;
  const types = Array.isArray(node.type) ? (node.type as unknown[]) : [node.type];
  if (types.includes('integer') || types.includes('number')) node[FINITE_KEYWORD] = true;
  for (const [key, value] of Object.entries(node)) if (key !== 'enum' && key !== 'const' && key !== 'default') markNumbers(value, seen);
}

/** Marks every integer and number field of every route registered after this call. */
export function requireFiniteNumbers(app: FastifyInstance): void {
  app.addHook('onRoute', (route) => {
    const schema = route.schema as Record<string, unknown> | undefined;
    if (schema === undefined) return;
    const seen = new Set<object>();
    for (const part of ['body', 'querystring', 'params', 'headers']) markNumbers(schema[part], seen);
  });
}
