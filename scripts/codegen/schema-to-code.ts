/**
 * Turns one draft-04 JSON Schema (the subset Keyway's event schemas use) into a TypeScript type expression and a
 * zod 4 expression. Keywords outside the subset are refused with the path, so a schema never silently loses a rule.
 */
export type JsonSchema = Record<string, unknown>;

const SUPPORTED = new Set([
  '$schema', 'id', 'title', 'description', 'type', 'properties', 'required', 'additionalProperties', 'enum',
  'format', 'minLength', 'maxLength', 'pattern', 'minimum', 'maximum', 'items', 'minItems', 'maxItems',
  'uniqueItems', 'default', 'x-keyway',
]);

export class UnsupportedSchemaError extends Error {}

function check(schema: JsonSchema, path: string): void {
  for (const key of Object.keys(schema)) {
    if (!SUPPORTED.has(key)) {
      throw new UnsupportedSchemaError(`${path}: keyword "${key}" is not supported by the code generator`);
    }
  }
}

const lit = (v: unknown): string => JSON.stringify(v);

function schemaType(schema: JsonSchema, path: string): string | undefined {
  const t = schema.type;
  if (t === undefined || typeof t === 'string') return t;
  throw new UnsupportedSchemaError(`${path}: only a single "type" is supported`);
}

export function toTsType(schema: JsonSchema, path = '#', indent = ''): string {
  check(schema, path);
  if (Array.isArray(schema.enum)) return schema.enum.map(lit).join(' | ');
  const type = schemaType(schema, path);
  switch (type) {
    case 'string':
      return 'string';
    case 'number':
    case 'integer':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'null':
      return 'null';
    case 'array': {
      const items = schema.items as JsonSchema | undefined;
      return items ? `Array<${toTsType(items, `${path}/items`, indent)}>` : 'unknown[]';
    }
    case 'object': {
      const props = (schema.properties ?? {}) as Record<string, JsonSchema>;
      const required = new Set((schema.required ?? []) as string[]);
      const inner = `${indent}  `;
      const lines = Object.entries(props).map(([name, sub]) => {
        const doc = typeof sub.description === 'string' ? `${inner}/** ${sub.description} */\n` : '';
        const opt = required.has(name) ? '' : '?';
        return `${doc}${inner}${lit(name)}${opt}: ${toTsType(sub, `${path}/properties/${name}`, inner)};`;
      });
      if (schema.additionalProperties !== false) lines.push(`${inner}[key: string]: unknown;`);
      return `{\n${lines.join('\n')}\n${indent}}`;
    }
    case undefined:
      return 'unknown';
    default:
      throw new UnsupportedSchemaError(`${path}: type "${type}" is not supported`);
  }
}

const FORMATS: Record<string, string> = {
  'date-time': '.datetime({ offset: true })',
  email: '.email()',
  uri: '.url()',
};

export function toZod(schema: JsonSchema, path = '#', indent = ''): string {
  check(schema, path);
  if (Array.isArray(schema.enum)) {
    const values = schema.enum;
    if (values.every((v) => typeof v === 'string')) return `z.enum([${values.map(lit).join(', ')}])`;
    return `z.union([${values.map((v) => `z.literal(${lit(v)})`).join(', ')}])`;
  }
  const type = schemaType(schema, path);
  let out: string;
  switch (type) {
    case 'string': {
      out = 'z.string()';
      if (typeof schema.minLength === 'number') out += `.min(${schema.minLength})`;
      if (typeof schema.maxLength === 'number') out += `.max(${schema.maxLength})`;
      if (typeof schema.pattern === 'string') out += `.regex(new RegExp(${lit(schema.pattern)}, 'u'))`;
      if (typeof schema.format === 'string') {
        const format = FORMATS[schema.format];
        if (format === undefined) throw new UnsupportedSchemaError(`${path}: format "${schema.format}" is not supported`);
        out += format;
      }
      break;
    }
    case 'number':
    case 'integer': {
      out = type === 'integer' ? 'z.number().int()' : 'z.number()';
      if (typeof schema.minimum === 'number') out += `.min(${schema.minimum})`;
      if (typeof schema.maximum === 'number') out += `.max(${schema.maximum})`;
      break;
    }
    case 'boolean':
      out = 'z.boolean()';
      break;
    case 'null':
      out = 'z.null()';
      break;
    case 'array': {
      const items = schema.items as JsonSchema | undefined;
      out = `z.array(${items ? toZod(items, `${path}/items`, indent) : 'z.unknown()'})`;
      if (typeof schema.minItems === 'number') out += `.min(${schema.minItems})`;
      if (typeof schema.maxItems === 'number') out += `.max(${schema.maxItems})`;
      if (schema.uniqueItems === true) out += `.refine(uniqueItems, { message: 'items must be unique' })`;
      break;
    }
    case 'object': {
      const props = (schema.properties ?? {}) as Record<string, JsonSchema>;
      const required = new Set((schema.required ?? []) as string[]);
      const inner = `${indent}  `;
      const lines = Object.entries(props).map(([name, sub]) => {
        const z = toZod(sub, `${path}/properties/${name}`, inner);
        return `${inner}${lit(name)}: ${required.has(name) ? z : `${z}.optional()`},`;
      });
      const ctor = schema.additionalProperties === false ? 'z.strictObject' : 'z.looseObject';
      out = `${ctor}({\n${lines.join('\n')}\n${indent}})`;
      break;
    }
    case undefined:
      out = 'z.unknown()';
      break;
    default:
      throw new UnsupportedSchemaError(`${path}: type "${type}" is not supported`);
  }
  return out;
}
