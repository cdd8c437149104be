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

function typesOf(s: Schema): Set<string> | undefined {
  if (Array.isArray(s.enum)) {
    return new Set(s.enum.map((v) => (v === null ? 'null' : Array.isArray(v) ? 'array' : Number.isInteger(v) ? 'integer' : typeof v)));
  }
  if (typeof s.type === 'string') return new Set([s.type]);
  if (Array.isArray(s.type)) return new Set(s.type as string[]);
  return undefined;
}

const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);
const props = (s: Schema): Record<string, Schema> => (s.properties ?? {}) as Record<string, Schema>;
const required = (s: Schema): Set<string> => new Set((s.required ?? []) as string[]);

/** Problems that make some instance of `writer` invalid under `reader` (empty when covered). */
export function covers(writer: Schema, reader: Schema, path = ''): string[] {
  const at = path || '/';
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
    const allowed = new Set(reader.enum.map((v) => JSON.stringify(v)));
    if (!Array.isArray(writer.enum)) problems.push(`${at}: the reader restricts values to an enum the writer does not have`);
    else for (const v of writer.enum) if (!allowed.has(JSON.stringify(v))) problems.push(`${at}: enum value ${JSON.stringify(v)} was removed`);
  }
  const lower = (key: string, what: string): void => {
    const r = num(reader[key]);
    const w = num(writer[key]);
    if (r !== undefined && (w === undefined || w < r)) problems.push(`${at}: ${what} tightened to ${r}`);
  };
  const upper = (key: string, what: string): void => {
    const r = num(reader[key]);
    const w = num(writer[key]);
    if (r !== undefined && (w === undefined || w > r)) problems.push(`${at}: ${what} tightened to ${r}`);
  };
  lower('minLength', 'minLength');
  upper('maxLength', 'maxLength');
  lower('minimum', 'minimum');
  upper('maximum', 'maximum');
  lower('minItems', 'minItems');
  upper('maxItems', 'maxItems');
  for (const key of ['pattern', 'format'] as const) {
    if (reader[key] !== undefined && reader[key] !== writer[key]) problems.push(`${at}: ${key} changed to ${JSON.stringify(reader[key])}`);
  }
  if (reader.uniqueItems === true && writer.uniqueItems !== true) problems.push(`${at}: items must now be unique`);
  if (reader.items && typeof reader.items === 'object') {
    problems.push(...covers((writer.items ?? {}) as Schema, reader.items as Schema, `${path}/items`));
  }
  if (rt?.has('object') || reader.properties || writer.properties) problems.push(...coversObject(writer, reader, path));
  return problems;
}

function coversObject(writer: Schema, reader: Schema, path: string): string[] {
  const problems: string[] = [];
  const wProps = props(writer);
  const rProps = props(reader);
  const wReq = required(writer);
  for (const name of required(reader)) {
    if (!wReq.has(name) && rProps[name]?.default === undefined) {
      problems.push(`${path}/${name}: required without a default, but earlier data may lack it`);
    }
  }
  for (const [name, w] of Object.entries(wProps)) {
    const r = rProps[name];
    if (r) problems.push(...covers(w, r, `${path}/${name}`));
    else if (reader.additionalProperties === false) problems.push(`${path}/${name}: not known to the reading schema, which refuses additional properties`);
  }
  for (const [name, r] of Object.entries(rProps)) {
    if (name in wProps || writer.additionalProperties === false) continue;
    if (Object.keys(r).some((k) => k !== 'description' && k !== 'default' && k !== 'title')) {
      problems.push(`${path}/${name}: added with constraints, but the earlier schema allowed any additional property`);
    }
  }
  if (reader.additionalProperties === false && writer.additionalProperties !== false) {
    problems.push(`${path || '/'}: additional properties are now refused`);
  }
  return problems;
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
