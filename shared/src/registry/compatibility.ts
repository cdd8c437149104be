/**
 * Compatibility between schema versions, judged structurally on the draft-04 subset event schemas use.
 *
 * `covers(writer, reader)` asks: is every instance valid under `writer` also accepted by `reader`?
 * BACKWARD (the default) means the new schema reads data written with the old one: covers(old, new).
 * FORWARD means the old schema reads data written with the new one: covers(new, old).
 * A required property the reader adds counts as covered when it declares a `default`, since a reader fills it in.
 *
 * Unlike registries that treat every schema as an open content model, a property added to a schema whose earlier
 * version had `additionalProperties: false` is judged compatible: no earlier instance can carry it. Where the earlier
 * version was open, an instance may already carry that name with any value, so adding it is reported.
 *
 * Local `$ref`s (`#/definitions/x`, any `#/json/pointer` within the same document) are resolved before comparing.
 * Keywords the checker does not reason about (`allOf`, `anyOf`, `oneOf`, `not`, `dependencies`, `patternProperties`,
 * tuple `items` with `additionalItems`, a `multipleOf` it cannot relate, a `$ref` to another document) are accepted
 * only where the other version has the same; otherwise the change is refused as one it cannot show compatible.
 */
import type { JsonSchemaDocument } from './metadata.js';

export const CompatibilityMode = [
  'BACKWARD',
  'BACKWARD_TRANSITIVE',
  'FORWARD',
  'FORWARD_TRANSITIVE',
  'FULL',
  'FULL_TRANSITIVE',
  'NONE',
] as const;
export type CompatibilityMode = (typeof CompatibilityMode)[number];

export interface CompatibilityResult {
  compatible: boolean;
  /** One line per problem: `vN -> vM (DIRECTION) at <path>: <what>`. */
  problems: string[];
}

type Schema = JsonSchemaDocument;

const isObject = (v: unknown): v is Schema => typeof v === 'object' && v !== null && !Array.isArray(v);

function typesOf(s: Schema): Set<string> | undefined {
  if (Array.isArray(s.enum)) {
    return new Set(s.enum.map((v) => (v === null ? 'null' : Array.isArray(v) ? 'array' : Number.isInteger(v) ? 'integer' : typeof v)));
  }
  if (typeof s.type === 'string') return new Set([s.type]);
  if (Array.isArray(s.type)) return new Set(s.type as string[]);
  return undefined;
}

const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);
const props = (s: Schema): Record<string, Schema> => (isObject(s.properties) ? s.properties : {}) as Record<string, Schema>;
const required = (s: Schema): Set<string> => new Set((Array.isArray(s.required) ? s.required : []) as string[]);
const hasPatterns = (s: Schema): boolean => isObject(s.patternProperties) && Object.keys(s.patternProperties).length > 0;

/** JSON text with sorted keys, so that equal values compare equal whatever their key order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (isObject(value)) {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'undefined';
}

/** Keywords that narrow what the reader accepts and that the checker only accepts when the writer has the same. */
const OPAQUE = ['allOf', 'anyOf', 'oneOf', 'not', 'dependencies', 'patternProperties'] as const;
/** Draft-04 keywords that take part in validation; everything else (title, description, default, x-...) does not. */
const VALIDATION = [
  '$ref', 'type', 'enum', 'multipleOf', 'maximum', 'exclusiveMaximum', 'minimum', 'exclusiveMinimum', 'maxLength', 'minLength',
  'pattern', 'format', 'items', 'additionalItems', 'maxItems', 'minItems', 'uniqueItems', 'maxProperties', 'minProperties',
  'required', 'properties', 'patternProperties', 'additionalProperties', 'dependencies', 'allOf', 'anyOf', 'oneOf', 'not',
] as const;
/** Bounds on one comparison, so that a schema built to explode (refs to refs to refs) is refused, not computed. */
const MAX_STEPS = 20_000;
const MAX_NESTING = 128;
const MAX_REF_CHAIN = 64;

type Resolved = { schema: Schema } | { unresolved: string };

/** Compares one writer document with one reader document; `$ref`s resolve within their own document. */
class Comparison {
  private steps = 0;
  private readonly comparing = new Map<Schema, Set<Schema>>();
  private readonly equating = new Map<Schema, Set<Schema>>();

  constructor(
    private readonly writerRoot: Schema,
    private readonly readerRoot: Schema,
  ) {}

  /**
   * Follows `$ref` (siblings ignored, as draft-04 says) to a subschema of `root`: `#`, `#/json/pointer`, or the
   * document's own id followed by such a fragment. Anything else (another document, a cycle of refs, a pointer that
   * leads nowhere or through a subschema with its own `id`) is unresolved.
   */
  resolve(schema: unknown, root: Schema): Resolved {
    let current = schema;
    const seen = new Set<string>();
    while (isObject(current) && typeof current.$ref === 'string') {
      const ref = current.$ref;
      if (seen.has(ref) || seen.size >= MAX_REF_CHAIN) return { unresolved: ref };
      seen.add(ref);
      const base = typeof root.id === 'string' ? root.id.replace(/#.*$/, '') : undefined;
      let fragment: string | undefined;
      if (ref.startsWith('#')) fragment = ref.slice(1);
      else if (base && (ref === base || ref.startsWith(`${base}#`))) fragment = ref.slice(base.length + 1);
      if (fragment === undefined || (fragment !== '' && !fragment.startsWith('/'))) return { unresolved: ref };
      let node: unknown = root;
      for (const raw of fragment === '' ? [] : fragment.slice(1).split('/')) {
        let key: string;
        try {
          key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
        } catch {
          return { unresolved: ref };
        }
        if (Array.isArray(node) && /^(0|[1-9][0-9]*)$/.test(key)) node = node[Number(key)];
        else if (isObject(node) && Object.hasOwn(node, key)) node = node[key];
        else return { unresolved: ref };
        if (isObject(node) && typeof node.id === 'string') return { unresolved: ref };
      }
      current = node;
    }
    return isObject(current) ? { schema: current } : { unresolved: JSON.stringify(current) ?? 'undefined' };
  }

  private budget(depth: number): boolean {
    this.steps += 1;
    return this.steps <= MAX_STEPS && depth <= MAX_NESTING;
  }

  private static enter(map: Map<Schema, Set<Schema>>, a: Schema, b: Schema): boolean {
    const set = map.get(a) ?? new Set<Schema>();
    map.set(a, set);
    if (set.has(b)) return false;
    set.add(b);
    return true;
  }

  /** True when both subschemas (refs resolved) validate exactly alike; false when that cannot be shown. */
  sameSchema(w: unknown, r: unknown, depth = 0): boolean {
    if (!this.budget(depth)) return false;
    const wr = this.resolve(w, this.writerRoot);
    const rr = this.resolve(r, this.readerRoot);
    if (!('schema' in wr) || !('schema' in rr)) return false;
    const ws = wr.schema;
    const rs = rr.schema;
    if ((ws !== this.writerRoot && typeof ws.id === 'string') || (rs !== this.readerRoot && typeof rs.id === 'string')) return false;
    // A pair already being compared further up is assumed equal: instances are finite, so recursion bottoms out.
    if (!Comparison.enter(this.equating, ws, rs)) return true;
    try {
      return VALIDATION.every((k) => k === '$ref' || this.sameKeyword(k, ws[k], rs[k], depth + 1));
    } finally {
      this.equating.get(ws)?.delete(rs);
    }
  }

  /** True when keyword `k` has the same effect in both schemas (subschemas compared with refs resolved). */
  sameKeyword(k: string, w: unknown, r: unknown, depth: number): boolean {
    if (w === undefined || r === undefined) return w === r;
    const sameMap = (wm: unknown, rm: unknown, value: (a: unknown, b: unknown) => boolean): boolean => {
      if (!isObject(wm) || !isObject(rm)) return canonical(wm) === canonical(rm);
      const keys = Object.keys(wm);
      return keys.length === Object.keys(rm).length && keys.every((key) => Object.hasOwn(rm, key) && value(wm[key], rm[key]));
    };
    const sameList = (wl: unknown, rl: unknown): boolean =>
      Array.isArray(wl) && Array.isArray(rl) ? wl.length === rl.length && wl.every((x, i) => this.sameSchema(x, rl[i], depth)) : canonical(wl) === canonical(rl);
    const sameSub = (a: unknown, b: unknown): boolean => (isObject(a) && isObject(b) ? this.sameSchema(a, b, depth) : canonical(a) === canonical(b));
    switch (k) {
      case 'properties':
      case 'patternProperties':
        return sameMap(w, r, (a, b) => this.sameSchema(a, b, depth));
      case 'dependencies':
        return sameMap(w, r, sameSub);
      case 'allOf':
      case 'anyOf':
      case 'oneOf':
        return sameList(w, r);
      case 'items':
        return Array.isArray(w) || Array.isArray(r) ? sameList(w, r) : sameSub(w, r);
      case 'not':
      case 'additionalItems':
      case 'additionalProperties':
        return sameSub(w, r);
      case 'required':
        return Array.isArray(w) && Array.isArray(r) ? canonical([...(w as string[])].sort()) === canonical([...(r as string[])].sort()) : canonical(w) === canonical(r);
      default:
        return canonical(w) === canonical(r);
    }
  }

  /** Problems that make some instance of `writer` invalid under `reader` (empty when covered). */
  covers(writerIn: unknown, readerIn: unknown, path: string, depth = 0): string[] {
    const at = path || '/';
    const cannot = (what: string): string => `${at}: cannot show that the change is compatible: ${what}`;
    if (!this.budget(depth)) return [cannot('the schemas are too large or too deeply referenced to compare')];
    const rr = this.resolve(readerIn, this.readerRoot);
    if (!('schema' in rr)) return [cannot(`keyword $ref at ${at}: ${JSON.stringify(rr.unresolved)} does not resolve within the schema`)];
    const reader = rr.schema;
    if (reader !== this.readerRoot && typeof reader.id === 'string') return [cannot(`keyword id at ${at}: a nested id changes how references resolve`)];
    // A writer the checker cannot read is taken to allow any value, which only makes the check stricter.
    const wr = this.resolve(writerIn, this.writerRoot);
    const writer = 'schema' in wr && (wr.schema === this.writerRoot || typeof wr.schema.id !== 'string') ? wr.schema : {};
    // A pair already being compared further up (recursive schemas) is assumed covered: instances are finite.
    if (!Comparison.enter(this.comparing, writer, reader)) return [];
    try {
      return this.coversResolved(writer, reader, path, at, depth, cannot);
    } finally {
      this.comparing.get(writer)?.delete(reader);
    }
  }

  private coversResolved(writer: Schema, reader: Schema, path: string, at: string, depth: number, cannot: (what: string) => string): string[] {
    const problems: string[] = [];
    const wt = typesOf(writer);
    const rt = typesOf(reader);
    if (rt) {
      if (!wt) return [`${at}: the reader requires type ${[...rt].join('|')} where the writer allows any value`];
      for (const t of wt) {
        if (!rt.has(t) && !(t === 'integer' && rt.has('number'))) problems.push(`${at}: type ${t} is no longer accepted`);
      }
    }
    if (Array.isArray(reader.enum)) {
      const allowed = new Set(reader.enum.map((v) => canonical(v)));
      if (!Array.isArray(writer.enum)) problems.push(`${at}: the reader restricts values to an enum the writer does not have`);
      else for (const v of writer.enum) if (!allowed.has(canonical(v))) problems.push(`${at}: enum value ${JSON.stringify(v)} was removed`);
    }
    const lower = (key: string, what: string, exclusiveKey?: string): void => {
      const r = num(reader[key]);
      const w = num(writer[key]);
      const rx = exclusiveKey !== undefined && reader[exclusiveKey] === true;
      const wx = exclusiveKey !== undefined && writer[exclusiveKey] === true;
      if (r !== undefined && (w === undefined || w < r || (w === r && rx && !wx))) problems.push(`${at}: ${what} tightened to ${rx ? '>' : ''}${r}`);
    };
    const upper = (key: string, what: string, exclusiveKey?: string): void => {
      const r = num(reader[key]);
      const w = num(writer[key]);
      const rx = exclusiveKey !== undefined && reader[exclusiveKey] === true;
      const wx = exclusiveKey !== undefined && writer[exclusiveKey] === true;
      if (r !== undefined && (w === undefined || w > r || (w === r && rx && !wx))) problems.push(`${at}: ${what} tightened to ${rx ? '<' : ''}${r}`);
    };
    lower('minLength', 'minLength');
    upper('maxLength', 'maxLength');
    lower('minimum', 'minimum', 'exclusiveMinimum');
    upper('maximum', 'maximum', 'exclusiveMaximum');
    lower('minItems', 'minItems');
    upper('maxItems', 'maxItems');
    lower('minProperties', 'minProperties');
    upper('maxProperties', 'maxProperties');
    const rm = num(reader.multipleOf);
    const wm = num(writer.multipleOf);
    if (rm !== undefined && !(wm !== undefined && Number.isInteger(wm / rm))) problems.push(cannot(`keyword multipleOf at ${at} is new or no longer divides the earlier one`));
    for (const key of ['pattern', 'format'] as const) {
      if (reader[key] !== undefined && reader[key] !== writer[key]) problems.push(`${at}: ${key} changed to ${JSON.stringify(reader[key])}`);
    }
    if (reader.uniqueItems === true && writer.uniqueItems !== true) problems.push(`${at}: items must now be unique`);
    for (const key of OPAQUE) {
      if (reader[key] !== undefined && !this.sameKeyword(key, writer[key], reader[key], depth + 1)) problems.push(cannot(`keyword ${key} at ${at} is new or changed`));
    }
    if (Array.isArray(reader.items)) {
      // Tuple form: which index each item schema (and additionalItems) applies to depends on both keywords.
      if (!this.sameKeyword('items', writer.items, reader.items, depth + 1) || !this.sameKeyword('additionalItems', writer.additionalItems, reader.additionalItems, depth + 1)) {
        problems.push(cannot(`keyword items at ${at} is a list (with additionalItems) that is new or changed`));
      }
    } else if (isObject(reader.items)) {
      if (Array.isArray(writer.items)) {
        writer.items.forEach((w, i) => problems.push(...this.covers(w, reader.items, `${path}/items/${i}`, depth + 1)));
        if (writer.additionalItems !== false) problems.push(...this.covers(isObject(writer.additionalItems) ? writer.additionalItems : {}, reader.items, `${path}/items`, depth + 1));
      } else {
        problems.push(...this.covers(writer.items ?? {}, reader.items, `${path}/items`, depth + 1));
      }
    }
    if (!wt || wt.has('object')) {
      if (rt?.has('object') || reader.properties || writer.properties || reader.required || reader.additionalProperties !== undefined) {
        problems.push(...this.coversObject(writer, reader, path, depth));
      }
    }
    return problems;
  }

  private coversObject(writer: Schema, reader: Schema, path: string, depth: number): string[] {
    const problems: string[] = [];
    const wProps = props(writer);
    const rProps = props(reader);
    const wReq = required(writer);
    for (const name of required(reader)) {
      if (!wReq.has(name) && (Object.hasOwn(rProps, name) ? rProps[name]?.default : undefined) === undefined) {
        problems.push(`${path}/${name}: required without a default, but earlier data may lack it`);
      }
    }
    // What the writer allows under a name it does not declare: nothing (closed), a schema, or any value. With
    // patternProperties the writer may carry any name its patterns match, so it counts as open for added names.
    const writerOpen = writer.additionalProperties !== false || hasPatterns(writer);
    const writerExtra: Schema = isObject(writer.additionalProperties) && !hasPatterns(writer) ? writer.additionalProperties : {};
    const writerExtraIsAny = Object.keys(writerExtra).length === 0;
    // Names the reader's additionalProperties governs: the writer's undeclared ones, unless the writer is closed and
    // any pattern-matched names it allows are matched by the same patterns in the reader.
    const samePatterns = this.sameKeyword('patternProperties', writer.patternProperties, reader.patternProperties, depth + 1);
    const writerExtrasReachReader = writer.additionalProperties !== false || (hasPatterns(writer) && !samePatterns);
    const readerExtra = reader.additionalProperties;
    for (const [name, w] of Object.entries(wProps)) {
      if (Object.hasOwn(rProps, name)) problems.push(...this.covers(w, rProps[name], `${path}/${name}`, depth + 1));
      else if (readerExtra === false) problems.push(`${path}/${name}: not known to the reading schema, which refuses additional properties`);
      else if (isObject(readerExtra)) problems.push(...this.covers(w, readerExtra, `${path}/${name}`, depth + 1));
    }
    for (const [name, r] of Object.entries(rProps)) {
      if (Object.hasOwn(wProps, name) || !writerOpen) continue;
      if (!writerExtraIsAny) problems.push(...this.covers(writerExtra, r, `${path}/${name}`, depth + 1));
      else if (!isObject(r) || Object.keys(r).some((k) => k !== 'description' && k !== 'default' && k !== 'title')) {
        problems.push(`${path}/${name}: added with constraints, but the earlier schema allowed any additional property`);
      }
    }
    if (writerExtrasReachReader) {
      if (readerExtra === false) problems.push(`${path || '/'}: additional properties are now refused`);
      else if (isObject(readerExtra)) problems.push(...this.covers(writerExtra, readerExtra, `${path}/*`, depth + 1));
    }
    return problems;
  }
}

/**
 * Problems that make some instance of `writer` invalid under `reader` (empty when covered). `$ref`s resolve within
 * their own document; a keyword the checker cannot reason about is accepted only when the writer has the same one.
 */
export function covers(writer: Schema, reader: Schema, path = ''): string[] {
  return new Comparison(writer, reader).covers(writer, reader, path);
}

/**
 * Checks `candidate` (version `candidateVersion`) against `earlier` versions (ascending) in the given mode.
 * Non-transitive modes compare with the latest earlier version only.
 */
export function checkCompatibility(
  candidate: { version: number; document: Schema },
  earlier: ReadonlyArray<{ version: number; document: Schema }>,
  mode: CompatibilityMode = 'BACKWARD',
): CompatibilityResult {
  if (mode === 'NONE' || earlier.length === 0) return { compatible: true, problems: [] };
  const against = mode.endsWith('_TRANSITIVE') ? earlier : earlier.slice(-1);
  const backward = mode.startsWith('BACKWARD') || mode.startsWith('FULL');
  const forward = mode.startsWith('FORWARD') || mode.startsWith('FULL');
  const problems: string[] = [];
  for (const old of against) {
    const label = `v${old.version} -> v${candidate.version}`;
    if (backward) for (const p of covers(old.document, candidate.document)) problems.push(`${label} (BACKWARD) at ${p}`);
    if (forward) for (const p of covers(candidate.document, old.document)) problems.push(`${label} (FORWARD) at ${p}`);
  }
  return { compatible: problems.length === 0, problems };
}
