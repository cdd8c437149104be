import type { ValidateFunction } from 'ajv';
import fs from 'node:fs';
import path from 'node:path';
import { eventJson, MAX_EVENT_BYTES, schemaIdFor, type EventEnvelope } from '../envelope.js';
import { ErrorCode, KeywayError } from '../errors.js';
import { SCHEMA_DOCUMENTS } from '../generated/schemas.js';
import { createLogger } from '../log.js';
import { AuditTrail, MemoryAuditStore, type AuditRecord } from './audit.js';
import { checkCompatibility, type CompatibilityMode } from './compatibility.js';
import { createDraft04Ajv, ignoreRefSiblings, toIssues } from './draft04.js';
import { parseEnvelope } from './envelope-shape.js';
import { SchemaMetadataShape, type JsonSchemaDocument, type RegisteredSchema } from './metadata.js';

const DRAFT04 = new Set(['http://json-schema.org/draft-04/schema#', 'http://json-schema.org/draft-04/schema']);

export interface ValidatedEvent {
  event: EventEnvelope;
  schema: RegisteredSchema;
  /** True when the event uses a deprecated (not yet sunset) version: accepted, counted and warned. */
  deprecated: boolean;
}

export interface RegistryOptions {
  audit?: AuditTrail;
  now?: () => Date;
}

/** Largest schema document accepted, in bytes of its JSON text (the repository's own are under 2 KB). */
export const MAX_SCHEMA_BYTES = 64 * 1024;
/** Deepest nesting of JSON objects and arrays accepted in a schema document (the repository's own reach 6). */
export const MAX_SCHEMA_DEPTH = 32;
/** Most property declarations (entries of every `properties` object, at any depth) accepted in one schema. */
export const MAX_SCHEMA_PROPERTIES = 256;

interface Entry {
  schema: RegisteredSchema;
  validate: ValidateFunction;
  /** Keys the compile added to ajv (the schema's id and any nested ids), removed again if the version is dropped. */
  ajvKeys: string[];
}

/**
 * Nesting depth (objects and arrays; the document itself is 1) and the number of property declarations, found
 * without recursion so that a document nested far too deep is measured rather than overflowing the stack.
 */
export function measureSchema(document: unknown): { depth: number; properties: number } {
  let depth = 0;
  let properties = 0;
  const stack: Array<{ value: unknown; depth: number; key: string | undefined }> = [{ value: document, depth: 1, key: undefined }];
  const seen = new Set<object>(); // a document built in code may share or cycle objects; JSON text cannot
  for (let item = stack.pop(); item; item = stack.pop()) {
    const { value } = item;
    if (typeof value !== 'object' || value === null || seen.has(value)) continue;
    seen.add(value);
    depth = Math.max(depth, item.depth);
    if (Array.isArray(value)) {
      for (const v of value as unknown[]) if (typeof v === 'object' && v !== null) stack.push({ value: v, depth: item.depth + 1, key: undefined });
      continue;
    }
    if (item.key === 'properties') properties += Object.keys(value).length;
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (typeof v === 'object' && v !== null) stack.push({ value: v, depth: item.depth + 1, key: k });
    }
  }
  return { depth, properties };
}

function versionOf(file: string): number {
  return Number(/\.v([0-9]+)\.json$/.exec(file)?.[1] ?? 0);
}

/** Start of the sunset day (UTC) when only a date is given. */
export function sunsetTime(sunset: string): number {
  return Date.parse(sunset.length === 10 ? `${sunset}T00:00:00.000Z` : sunset);
}

export class SchemaRegistry {
  readonly audit: AuditTrail;
  /** The last audit entry applied to memory (see refresh). */
  private appliedSeq = 0;
  private readonly ajv = createDraft04Ajv();
  private readonly byType = new Map<string, Entry[]>();
  private readonly byId = new Map<string, Entry>();
  private readonly deprecatedUses = new Map<string, number>();
  private readonly now: () => Date;
  private readonly log = createLogger('registry');

  constructor(options: RegistryOptions = {}) {
    this.audit = options.audit ?? new AuditTrail(new MemoryAuditStore());
    this.now = options.now ?? (() => new Date());
  }

  /** A registry holding every schema of the repository (embedded at build time by codegen). */
  static fromEmbedded(options: RegistryOptions = {}): SchemaRegistry {
    const registry = new SchemaRegistry(options);
    for (const { file, document } of SCHEMA_DOCUMENTS) registry.load(document, file);
    return registry;
  }

  /** A registry loaded from a schemas folder (`<domain>/<EventName>.v<N>.json`); errors name the file. */
  static fromDirectory(dir: string, options: RegistryOptions = {}): SchemaRegistry {
    const registry = new SchemaRegistry(options);
    const files = fs
      .readdirSync(dir, { recursive: true, encoding: 'utf8' })
      .filter((f) => /\.v[1-9][0-9]*\.json$/.test(f))
      .sort((a, b) => versionOf(a) - versionOf(b) || a.localeCompare(b));
    for (const file of files) {
      const text = fs.readFileSync(path.join(dir, file), 'utf8');
      let document: JsonSchemaDocument;
      try {
        document = JSON.parse(text) as JsonSchemaDocument;
      } catch (cause) {
        throw new KeywayError(ErrorCode.SchemaInvalid, `${file}: not valid JSON: ${(cause as Error).message}`, { cause, details: { file } });
      }
      registry.load(document, file);
    }
    return registry;
  }

  /**
   * Meta-validates a schema document and adds it without auditing (the repository's own schemas at start).
   * Throws SCHEMA_INVALID naming the file and the problem, or SCHEMA_INCOMPATIBLE.
   */
  load(document: JsonSchemaDocument, file = '<inline>', mode: CompatibilityMode = 'BACKWARD'): RegisteredSchema {
    return this.add(document, file, mode, true);
  }

  private add(document: JsonSchemaDocument, file: string, mode: CompatibilityMode, limits: boolean): RegisteredSchema {
    const schema = this.metaValidate(document, file, limits);
    const earlier = (this.byType.get(schema.type) ?? []).filter((e) => e.schema.version < schema.version);
    const result = checkCompatibility(schema, earlier.map((e) => e.schema), mode);
    if (!result.compatible) {
      throw new KeywayError(ErrorCode.SchemaIncompatible, `${file}: ${schema.type} v${schema.version} is not ${mode} compatible: ${result.problems.join('; ')}`, {
        details: { file, mode, problems: result.problems },
      });
    }
    // Compiled only once accepted: ajv keeps every compiled id, and a refused version must leave no trace.
    const entry = { schema, ...this.compile(document, file) };
    const list = [...(this.byType.get(schema.type) ?? []), entry].sort((a, b) => a.schema.version - b.schema.version);
    this.byType.set(schema.type, list);
    this.byId.set(schema.id, entry);
    return schema;
  }

  /** Registers a new version at run time: meta-validated, compatibility-checked, then audited. */
  async register(document: JsonSchemaDocument, options: { actor: string; mode?: CompatibilityMode }): Promise<RegisteredSchema> {
    // Checked against what other replicas sharing the trail registered meanwhile, not only what this one knows.
    await this.refresh();
    const schema = this.load(document, '<registered>', options.mode ?? 'BACKWARD');
    try {
      await this.audit.append({ actor: options.actor, action: 'register', type: schema.type, version: schema.version, detail: { id: schema.id, mode: options.mode ?? 'BACKWARD', document } });
    } catch (error) {
      // Not audited means not registered: it would be gone after a restart.
      this.unload(schema);
      throw error;
    }
    return schema;
  }

  /**
   * Re-applies what the audit trail records (registrations, deprecations, retirements) on top of the repository's
   * schemas, so run-time changes survive a restart. Refuses a trail whose hash chain is broken.
   */
  async restore(): Promise<number> {
    const verification = await this.audit.verify();
    if (!verification.ok) {
      throw new KeywayError(ErrorCode.AuditTampered, `the schema audit trail is broken at entry ${verification.brokenAt}: ${verification.reason}`, { details: verification });
    }
    const records = await this.audit.list();
    this.apply(records);
    return records.length;
  }

  /**
   * Applies the audit entries appended since the last restore or refresh, by this process or by another sharing the
   * same trail (hub replicas on one PostgreSQL): a version registered or deprecated on one replica becomes known to
   * the others. Returns how many entries were new.
   */
  async refresh(): Promise<number> {
    const fresh = (await this.audit.list()).filter((r) => r.seq > this.appliedSeq);
    if (fresh.length === 0) return 0;
    const verification = await this.audit.verify();
    if (!verification.ok) {
      throw new KeywayError(ErrorCode.AuditTampered, `the schema audit trail is broken at entry ${verification.brokenAt}: ${verification.reason}`, { details: verification });
    }
    this.apply(fresh);
    return fresh.length;
  }

  private apply(records: readonly AuditRecord[]): void {
    for (const r of records) {
      this.appliedSeq = Math.max(this.appliedSeq, r.seq);
      if (r.action === 'register') {
        // Size limits are not applied again: the trail is verified, and a version accepted before they existed stays.
        if (!this.get(r.type, r.version)) this.add(r.detail.document as JsonSchemaDocument, `audit entry ${r.seq}`, (r.detail.mode as CompatibilityMode | undefined) ?? 'NONE', false);
      } else {
        const entry = this.entry(r.type, r.version);
        entry.schema.meta =
          r.action === 'retire'
            ? { ...entry.schema.meta, status: 'retired' }
            : { ...entry.schema.meta, status: 'deprecated', sunset: String(r.detail.sunset), ...(typeof r.detail.replacement === 'string' ? { replacement: r.detail.replacement } : {}) };
      }
    }
  }

  async deprecate(type: string, version: number, options: { actor: string; sunset: string; replacement?: string }): Promise<RegisteredSchema> {
    const entry = this.entry(type, version);
    const sunset = sunsetTime(options.sunset);
    if (Number.isNaN(sunset)) {
      throw new KeywayError(ErrorCode.InvalidInput, `sunset ${JSON.stringify(options.sunset)} is not an ISO date (YYYY-MM-DD)`);
    }
    const now = this.now();
    if (sunset <= now.getTime()) {
      throw new KeywayError(ErrorCode.InvalidInput, `sunset ${JSON.stringify(options.sunset)} is not in the future (now ${now.toISOString()}); retire the version to end it at once`, {
        details: { sunset: options.sunset, now: now.toISOString() },
      });
    }
    // Audited first: a failed append must not leave the version deprecated in memory only.
    await this.audit.append({ actor: options.actor, action: 'deprecate', type, version, detail: { sunset: options.sunset, replacement: options.replacement } });
    entry.schema.meta = { ...entry.schema.meta, status: 'deprecated', sunset: options.sunset, ...(options.replacement ? { replacement: options.replacement } : {}) };
    return entry.schema;
  }

  async retire(type: string, version: number, options: { actor: string }): Promise<RegisteredSchema> {
    const entry = this.entry(type, version);
    await this.audit.append({ actor: options.actor, action: 'retire', type, version });
    entry.schema.meta = { ...entry.schema.meta, status: 'retired' };
    return entry.schema;
  }

  types(): string[] {
    return [...this.byType.keys()].sort();
  }

  versions(type: string): RegisteredSchema[] {
    return (this.byType.get(type) ?? []).map((e) => e.schema);
  }

  get(type: string, version: number): RegisteredSchema | undefined {
    return this.byType.get(type)?.find((e) => e.schema.version === version)?.schema;
  }

  latest(type: string): RegisteredSchema | undefined {
    const list = this.byType.get(type);
    return list?.[list.length - 1]?.schema;
  }

  /** The account that owns (may publish) a type, from its latest version. */
  owner(type: string): string | undefined {
    return this.latest(type)?.meta.owner;
  }

  /** Accounts that may consume a type (its consumers plus its owner). */
  consumers(type: string): string[] {
    const meta = this.latest(type)?.meta;
    return meta ? [...new Set([meta.owner, ...meta.consumers])] : [];
  }

  deprecatedUseCount(type: string, version: number): number {
    return this.deprecatedUses.get(`${type}@${version}`) ?? 0;
  }

  /**
   * Validates a whole event (a JSON string or a parsed value): size, envelope, then data against the version named
   * by `dataschema`. Throws KeywayError with a code the caller can act on; lists every violated path.
   */
  validateEvent(input: unknown, now: Date = this.now()): ValidatedEvent {
    const bytes = typeof input === 'string' ? Buffer.byteLength(input) : undefined;
    let value = input;
    if (typeof input === 'string') {
      try {
        value = JSON.parse(input);
      } catch (cause) {
        throw new KeywayError(ErrorCode.MalformedJson, `the event is not valid JSON: ${(cause as Error).message}`, { cause });
      }
    }
    const size = bytes ?? Buffer.byteLength(eventJson(value));
    if (size > MAX_EVENT_BYTES) {
      throw new KeywayError(ErrorCode.EventTooLarge, `the event is ${size} bytes; the limit is ${MAX_EVENT_BYTES} bytes (256 KB)`, { details: { size, limit: MAX_EVENT_BYTES } });
    }
    const event = parseEnvelope(value);
    const list = this.byType.get(event.type);
    if (!list) {
      throw new KeywayError(ErrorCode.UnknownEventType, `unknown event type ${JSON.stringify(event.type)}; registered types are listed by the registry`, { details: { type: event.type } });
    }
    const entry = this.byId.get(event.dataschema);
    if (!entry || entry.schema.type !== event.type) {
      throw new KeywayError(ErrorCode.UnknownSchemaVersion, `dataschema ${JSON.stringify(event.dataschema)} is not a registered version of ${event.type} (versions: ${list.map((e) => e.schema.version).join(', ')})`, {
        details: { type: event.type, dataschema: event.dataschema },
      });
    }
    const { meta } = entry.schema;
    const label = `${event.type} v${entry.schema.version}`;
    if (meta.status === 'retired' || (meta.sunset !== undefined && meta.status !== 'active' && now.getTime() >= sunsetTime(meta.sunset))) {
      const instead = meta.replacement ? `; publish ${meta.replacement} instead` : '';
      throw new KeywayError(ErrorCode.SchemaRetired, `${label} is retired${meta.sunset ? ` since its sunset on ${meta.sunset}` : ''}${instead}`, {
        details: { type: event.type, version: entry.schema.version, replacement: meta.replacement },
      });
    }
    if (!entry.validate(event.data)) {
      const issues = toIssues(entry.validate.errors, '/data');
      throw new KeywayError(ErrorCode.ValidationFailed, `${label} is invalid: ${issues.map((i) => `${i.path} ${i.message}`).join('; ')}`, { details: { issues } });
    }
    const deprecated = meta.status === 'deprecated';
    if (deprecated) {
      const key = `${event.type}@${entry.schema.version}`;
      const count = (this.deprecatedUses.get(key) ?? 0) + 1;
      this.deprecatedUses.set(key, count);
      if (count === 1 || count % 1000 === 0) {
        this.log.warn({ type: event.type, version: entry.schema.version, sunset: meta.sunset, replacement: meta.replacement, uses: count }, `${label} is deprecated`);
      }
    }
    return { event, schema: entry.schema, deprecated };
  }

  private entry(type: string, version: number): Entry {
    const entry = this.byType.get(type)?.find((e) => e.schema.version === version);
    if (!entry) throw new KeywayError(ErrorCode.NotFound, `no schema ${type} v${version} is registered`, { details: { type, version } });
    return entry;
  }

  /** Drops an accepted version again (its audit entry could not be written): the maps and ajv forget it. */
  private unload(schema: RegisteredSchema): void {
    const entry = this.byId.get(schema.id);
    if (!entry) return;
    this.byId.delete(schema.id);
    const list = (this.byType.get(schema.type) ?? []).filter((e) => e !== entry);
    if (list.length > 0) this.byType.set(schema.type, list);
    else this.byType.delete(schema.type);
    this.forget(entry.ajvKeys);
  }

  private forget(keys: readonly string[]): void {
    for (const key of keys) {
      delete this.ajv.schemas[key];
      delete this.ajv.refs[key];
    }
  }

  private metaValidate(document: JsonSchemaDocument, file: string, limits = true): RegisteredSchema {
    const fail = (problem: string, details: Record<string, unknown> = {}): never => {
      throw new KeywayError(ErrorCode.SchemaInvalid, `${file}: ${problem}`, { details: { file, ...details } });
    };
    if (typeof document !== 'object' || document === null || Array.isArray(document)) fail('a schema must be a JSON object');
    if (limits) {
      // Checked before meta-validation and compile, which are synchronous, recursive, and slow on huge documents.
      const { depth, properties } = measureSchema(document);
      if (depth > MAX_SCHEMA_DEPTH) fail(`the schema is nested ${depth} levels deep; the limit is ${MAX_SCHEMA_DEPTH}`, { limit: 'depth', value: depth, max: MAX_SCHEMA_DEPTH });
      if (properties > MAX_SCHEMA_PROPERTIES) {
        fail(`the schema declares ${properties} properties; the limit is ${MAX_SCHEMA_PROPERTIES}`, { limit: 'properties', value: properties, max: MAX_SCHEMA_PROPERTIES });
      }
      const bytes = Buffer.byteLength(JSON.stringify(document));
      if (bytes > MAX_SCHEMA_BYTES) fail(`the schema is ${bytes} bytes; the limit is ${MAX_SCHEMA_BYTES} bytes (64 KiB)`, { limit: 'bytes', value: bytes, max: MAX_SCHEMA_BYTES });
    }
    if (!DRAFT04.has(String(document.$schema))) fail(`"$schema" must be "http://json-schema.org/draft-04/schema#", not ${JSON.stringify(document.$schema)}`);
    if (!this.ajv.validateSchema(document)) {
      const issues = toIssues(this.ajv.errors as Parameters<typeof toIssues>[0]);
      fail(`not a valid draft-04 schema: ${issues.map((i) => `${i.path} ${i.message}`).join('; ')}`, { issues });
    }
    const parsed = SchemaMetadataShape.safeParse(document['x-keyway']);
    if (!parsed.success) {
      const problems = parsed.error.issues.map((i) => `x-keyway/${i.path.join('/')} ${i.message}`);
      fail(`registry metadata is invalid: ${problems.join('; ')}`, { problems });
    }
    const meta = parsed.data!;
    const id = schemaIdFor(meta.type, meta.version);
    if (document.id !== id) fail(`"id" must be ${JSON.stringify(id)} for ${meta.type} v${meta.version}, not ${JSON.stringify(document.id)}`);
    if (this.byId.has(id)) fail(`${meta.type} v${meta.version} is already registered`);
    return { type: meta.type, version: meta.version, id, document, meta };
  }

  /**
   * Compiles with ajv, noting which ids the compile registered in ajv (the schema's own and any nested ones). When
   * the compile fails they are removed again, so that a corrected schema with the same id can be registered.
   */
  private compile(document: JsonSchemaDocument, file: string): { validate: ValidateFunction; ajvKeys: string[] } {
    const before = new Set([...Object.keys(this.ajv.schemas), ...Object.keys(this.ajv.refs)]);
    const added = (): string[] => [...new Set([...Object.keys(this.ajv.schemas), ...Object.keys(this.ajv.refs)])].filter((k) => !before.has(k));
    const compiled = ignoreRefSiblings(document) as JsonSchemaDocument;
    try {
      const validate = this.ajv.compile(compiled);
      return { validate, ajvKeys: added() };
    } catch (cause) {
      this.forget(added());
      // Also drops ajv's cache entry for the compiled object; by id only when the id was not ajv's before.
      if (typeof compiled.id !== 'string' || !before.has(compiled.id)) this.ajv.removeSchema(compiled);
      throw new KeywayError(ErrorCode.SchemaInvalid, `${file}: the schema does not compile: ${(cause as Error).message}`, { cause, details: { file } });
    }
  }
}
