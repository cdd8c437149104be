import AjvDraft04 from 'ajv-draft-04';
import addFormats from 'ajv-formats';

/**
 * The reference draft-04 validator (ajv + ajv-draft-04). `x-keyway` is Keyway's metadata keyword; other unknown
 * keywords are allowed because draft-04 says validators ignore them.
 */
export function createDraft04Ajv(): AjvDraft04 {
  // ownProperties: `required` and `properties` must not see inherited names such as `toString` or `__proto__`.
  const ajv = new AjvDraft04({ allErrors: true, strict: false, validateSchema: false, useDefaults: false, ownProperties: true });
  addFormats(ajv);
  return ajv;
}

export interface ValidationIssue {
  path: string;
  message: string;
}

interface AjvLikeError {
  instancePath: string;
  message?: string;
  keyword: string;
  params: Record<string, unknown>;
}

/** Turns ajv errors into `{path, message}` with the path in JSON Pointer form, naming the missing property. */
export function toIssues(errors: readonly AjvLikeError[] | null | undefined, prefix = ''): ValidationIssue[] {
  return (errors ?? []).map((e) => {
    let path = `${prefix}${e.instancePath}`;
    if (e.keyword === 'required' && typeof e.params.missingProperty === 'string') {
      path = `${path}/${e.params.missingProperty}`;
    }
    if (e.keyword === 'additionalProperties' && typeof e.params.additionalProperty === 'string') {
      path = `${path}/${e.params.additionalProperty}`;
    }
    return { path: path || '/', message: e.message ?? e.keyword };
  });
}

type Json = unknown;
const SCHEMA_MAPS = ['properties', 'patternProperties', 'definitions', 'dependencies'];
const SCHEMA_LISTS = ['allOf', 'anyOf', 'oneOf'];
const SCHEMA_VALUES = ['additionalItems', 'additionalProperties', 'not', 'items'];

/**
 * Applies draft-04's rule that every sibling of `$ref` is ignored (ajv applies siblings, as later drafts do).
 * Walks schema positions only, so a property that is merely named `$ref` is left alone.
 */
export function ignoreRefSiblings(schema: Json): Json {
  if (Array.isArray(schema)) return schema.map(ignoreRefSiblings);
  if (!schema || typeof schema !== 'object') return schema;
  const s = schema as Record<string, Json>;
  if (typeof s.$ref === 'string') return { $ref: s.$ref };
  const out: Record<string, Json> = { ...s };
  for (const key of SCHEMA_MAPS) {
    const map = s[key];
    if (map && typeof map === 'object' && !Array.isArray(map)) {
      out[key] = Object.fromEntries(Object.entries(map as Record<string, Json>).map(([k, v]) => [k, Array.isArray(v) ? v : ignoreRefSiblings(v)]));
    }
  }
  for (const key of SCHEMA_LISTS) if (Array.isArray(s[key])) out[key] = (s[key] as Json[]).map(ignoreRefSiblings);
  for (const key of SCHEMA_VALUES) if (s[key] !== undefined) out[key] = ignoreRefSiblings(s[key]);
  return out;
}
