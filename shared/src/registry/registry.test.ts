import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEvent, createEventVersion } from '../client/index.js';
import { ErrorCode, KeywayError } from '../errors.js';
import { SCHEMA_DOCUMENTS } from '../generated/schemas.js';
import { AuditTrail, FileAuditStore, MemoryAuditStore, type AuditRecord } from './audit.js';
import { MAX_SCHEMA_BYTES, MAX_SCHEMA_DEPTH, MAX_SCHEMA_PROPERTIES, measureSchema, SchemaRegistry } from './registry.js';

const repoSchemas = path.resolve(import.meta.dirname, '../../../schemas');
let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyway-registry-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function thrown(fn: () => unknown): KeywayError {
  try {
    fn();
  } catch (error) {
    if (error instanceof KeywayError) return error;
    throw error;
  }
  throw new Error('expected a KeywayError');
}

const doorV1 = () => structuredClone(SCHEMA_DOCUMENTS.find((d) => d.file === 'device/DoorStateChanged.v1.json')!.document);

function writeSchema(rel: string, doc: unknown): void {
  fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
  fs.writeFileSync(path.join(dir, rel), typeof doc === 'string' ? doc : JSON.stringify(doc));
}

describe('loading and meta-validating schemas', () => {
  it('loads every schema in the repository, two versions of DoorStateChanged among them', () => {
    const registry = SchemaRegistry.fromDirectory(repoSchemas);
    expect(registry.types().length).toBeGreaterThanOrEqual(21);
    expect(registry.versions('keyway.device.DoorStateChanged').map((s) => s.version)).toEqual([1, 2]);
    expect(registry.owner('keyway.access.GrantIssued')).toBe('access');
    expect(registry.consumers('keyway.access.GrantIssued')).toContain('delivery');
  });

  it('names the file and the problem when a schema is not valid draft-04', () => {
    const doc = doorV1();
    doc.properties = { deviceId: { type: 5 } };
    writeSchema('device/DoorStateChanged.v1.json', doc);
    const error = thrown(() => SchemaRegistry.fromDirectory(dir));
    expect(error.code).toBe(ErrorCode.SchemaInvalid);
    expect(error.message).toMatch(/^device\/DoorStateChanged\.v1\.json: not a valid draft-04 schema: .*\/properties\/deviceId\/type/);
  });

  it('names the file when the $schema is not draft-04, the JSON is broken, or the metadata is wrong', () => {
    writeSchema('device/DoorStateChanged.v1.json', { ...doorV1(), $schema: 'http://json-schema.org/draft-07/schema#' });
    expect(thrown(() => SchemaRegistry.fromDirectory(dir)).message).toMatch(/DoorStateChanged\.v1\.json: "\$schema" must be/);
    writeSchema('device/DoorStateChanged.v1.json', '{ "oops": ');
    expect(thrown(() => SchemaRegistry.fromDirectory(dir)).message).toMatch(/DoorStateChanged\.v1\.json: not valid JSON/);
    const doc = doorV1();
    (doc['x-keyway'] as Record<string, unknown>).status = 'sleeping';
    writeSchema('device/DoorStateChanged.v1.json', doc);
    expect(thrown(() => SchemaRegistry.fromDirectory(dir)).message).toMatch(/registry metadata is invalid: x-keyway\/status/);
    writeSchema('device/DoorStateChanged.v1.json', { ...doorV1(), id: 'https://example.com/x.json' });
    expect(thrown(() => SchemaRegistry.fromDirectory(dir)).message).toMatch(/"id" must be/);
  });

  it('refuses to load a version that breaks BACKWARD compatibility with the one before', () => {
    const v1 = doorV1();
    const v2 = structuredClone(v1);
    v2.id = String(v2.id).replace('.v1.', '.v2.');
    Object.assign(v2['x-keyway'] as object, { version: 2, status: 'active' });
    (v2.required as string[]).push('firmware');
    (v2.properties as Record<string, unknown>).firmware = { type: 'string' };
    writeSchema('device/DoorStateChanged.v1.json', v1);
    writeSchema('device/DoorStateChanged.v2.json', v2);
    const error = thrown(() => SchemaRegistry.fromDirectory(dir));
    expect(error.code).toBe(ErrorCode.SchemaIncompatible);
    expect(error.message).toMatch(/\/firmware: required without a default/);
  });
});

describe('validating events', () => {
  const registry = SchemaRegistry.fromEmbedded({ now: () => new Date('2026-12-01T00:00:00Z') });
  const at = '2026-11-28T10:00:00.000Z';

  it('accepts a valid event and lists every violated path of an invalid one', () => {
    const ok = createEvent('keyway.device.Heartbeat', { deviceId: 'garage-1', uptimeS: 5, at }, { source: 'keyway://device/garage-1' });
    expect(registry.validateEvent(ok).schema.version).toBe(1);
    const bad = { ...ok, data: { deviceId: '', uptimeS: -1, extra: true } };
    const error = thrown(() => registry.validateEvent(bad));
    expect(error.code).toBe(ErrorCode.ValidationFailed);
    expect((error.details.issues as { path: string }[]).map((i) => i.path).sort()).toEqual(['/data/at', '/data/deviceId', '/data/extra', '/data/uptimeS']);
  });

  it('gives typed errors for malformed JSON, unknown types, unknown versions and oversized events', () => {
    const ok = createEvent('keyway.device.Heartbeat', { deviceId: 'garage-1', uptimeS: 5, at }, { source: 'keyway://device/garage-1' });
    expect(thrown(() => registry.validateEvent('{"specversion":')).code).toBe(ErrorCode.MalformedJson);
    expect(thrown(() => registry.validateEvent({ ...ok, type: 'keyway.device.Nope' })).code).toBe(ErrorCode.UnknownEventType);
    expect(thrown(() => registry.validateEvent({ ...ok, dataschema: ok.dataschema.replace('.v1.', '.v9.') })).code).toBe(ErrorCode.UnknownSchemaVersion);
    expect(thrown(() => registry.validateEvent({ ...ok, data: { ...ok.data, pad: 'x'.repeat(300_000) } })).code).toBe(ErrorCode.EventTooLarge);
    expect(thrown(() => registry.validateEvent({ ...ok, specversion: '0.3' })).message).toMatch(/envelope is invalid: \/specversion/);
  });

  it('accepts a deprecated version with a warning count, and refuses it after its sunset naming the replacement', () => {
    const v1 = createEventVersion('keyway.device.DoorStateChanged', 1, { deviceId: 'garage-1', state: 'open', previous: 'opening', at }, { source: 'keyway://device/garage-1' });
    const before = SchemaRegistry.fromEmbedded({ now: () => new Date('2027-06-29T23:59:59Z') });
    expect(before.validateEvent(v1).deprecated).toBe(true);
    before.validateEvent(v1);
    expect(before.deprecatedUseCount('keyway.device.DoorStateChanged', 1)).toBe(2);
    const after = SchemaRegistry.fromEmbedded({ now: () => new Date('2027-06-30T00:00:00Z') });
    const error = thrown(() => after.validateEvent(v1));
    expect(error.code).toBe(ErrorCode.SchemaRetired);
    expect(error.message).toMatch(/sunset on 2027-06-30; publish https:\/\/keyway\.dev\/schemas\/device\/DoorStateChanged\.v2\.json instead/);
  });
});

describe('the audit trail', () => {
  it('chains registrations, deprecations and retirements, and verify reports the first edited entry', async () => {
    const file = path.join(dir, 'audit.jsonl');
    const registry = SchemaRegistry.fromEmbedded({ audit: new AuditTrail(new FileAuditStore(file)) });
    const v3 = structuredClone(SCHEMA_DOCUMENTS.find((d) => d.file === 'device/DoorStateChanged.v2.json')!.document);
    v3.id = String(v3.id).replace('.v2.', '.v3.');
    Object.assign(v3['x-keyway'] as object, { version: 3 });
    (v3.properties as Record<string, unknown>).firmware = { type: 'string' };
    await registry.register(v3, { actor: 'alice' });
    await registry.deprecate('keyway.device.DoorStateChanged', 2, { actor: 'alice', sunset: '2028-01-01', replacement: String(v3.id) });
    await registry.retire('keyway.device.DoorStateChanged', 1, { actor: 'bob' });
    expect(await registry.audit.verify()).toEqual({ ok: true, entries: 3 });
    const entries = await registry.audit.list();
    expect(entries.map((e) => [e.seq, e.actor, e.action, e.version])).toEqual([[1, 'alice', 'register', 3], [2, 'alice', 'deprecate', 2], [3, 'bob', 'retire', 1]]);

    const lines = fs.readFileSync(file, 'utf8').trim().split('\n');
    lines[1] = lines[1]!.replace('"actor":"alice"', '"actor":"mallory"');
    fs.writeFileSync(file, `${lines.join('\n')}\n`);
    const reopened = new AuditTrail(new FileAuditStore(file));
    expect(await reopened.verify()).toMatchObject({ ok: false, brokenAt: 2 });

    fs.writeFileSync(file, `${[lines[0], lines[2]].join('\n')}\n`);
    expect(await new AuditTrail(new FileAuditStore(file)).verify()).toMatchObject({ ok: false, brokenAt: 2, reason: expect.stringMatching(/removed or reordered/) });
  });

  it('refuses an incompatible registration and audits nothing for it', async () => {
    const registry = SchemaRegistry.fromEmbedded();
    const v3 = structuredClone(SCHEMA_DOCUMENTS.find((d) => d.file === 'device/DoorStateChanged.v2.json')!.document);
    v3.id = String(v3.id).replace('.v2.', '.v3.');
    Object.assign(v3['x-keyway'] as object, { version: 3 });
    (v3.properties as Record<string, Record<string, unknown>>).state = { enum: ['open', 'closed'] };
    await expect(registry.register(v3, { actor: 'alice' })).rejects.toMatchObject({ code: ErrorCode.SchemaIncompatible });
    expect(await registry.audit.list()).toEqual([]);
    await expect(registry.register(v3, { actor: 'alice', mode: 'NONE' })).resolves.toMatchObject({ version: 3 });
  });
});

describe('restoring the registry from its audit trail', () => {
  it('brings back run-time registrations and deprecations after a restart, and refuses a tampered trail', async () => {
    const file = path.join(dir, 'audit.jsonl');
    const first = SchemaRegistry.fromEmbedded({ audit: new AuditTrail(new FileAuditStore(file)) });
    const v3 = structuredClone(SCHEMA_DOCUMENTS.find((d) => d.file === 'device/DoorStateChanged.v2.json')!.document);
    v3.id = String(v3.id).replace('.v2.', '.v3.');
    Object.assign(v3['x-keyway'] as object, { version: 3 });
    await first.register(v3, { actor: 'alice' });
    await first.deprecate('keyway.device.DoorStateChanged', 2, { actor: 'alice', sunset: '2028-01-01', replacement: String(v3.id) });

    const second = SchemaRegistry.fromEmbedded({ audit: new AuditTrail(new FileAuditStore(file)) });
    expect(second.get('keyway.device.DoorStateChanged', 3)).toBeUndefined();
    expect(await second.restore()).toBe(2);
    expect(second.latest('keyway.device.DoorStateChanged')?.version).toBe(3);
    expect(second.get('keyway.device.DoorStateChanged', 2)?.meta).toMatchObject({ status: 'deprecated', sunset: '2028-01-01' });

    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('2028-01-01', '2099-01-01'));
    const third = SchemaRegistry.fromEmbedded({ audit: new AuditTrail(new FileAuditStore(file)) });
    await expect(third.restore()).rejects.toMatchObject({ code: ErrorCode.AuditTampered });
  });

  it('picks up what another registry sharing the trail registered and deprecated since, on refresh', async () => {
    const file = path.join(dir, 'audit.jsonl');
    const a = SchemaRegistry.fromEmbedded({ audit: new AuditTrail(new FileAuditStore(file)) });
    const b = SchemaRegistry.fromEmbedded({ audit: new AuditTrail(new FileAuditStore(file)) });
    await a.restore();
    await b.restore();
    expect(await b.refresh()).toBe(0);
    const v3 = structuredClone(SCHEMA_DOCUMENTS.find((d) => d.file === 'device/DoorStateChanged.v2.json')!.document);
    v3.id = String(v3.id).replace('.v2.', '.v3.');
    Object.assign(v3['x-keyway'] as object, { version: 3 });
    await a.register(v3, { actor: 'alice' });
    expect(b.get('keyway.device.DoorStateChanged', 3)).toBeUndefined();
    expect(await b.refresh()).toBe(1);
    expect(b.latest('keyway.device.DoorStateChanged')?.version).toBe(3);
    await a.deprecate('keyway.device.DoorStateChanged', 2, { actor: 'alice', sunset: '2028-01-01' });
    expect(await b.refresh()).toBe(1);
    expect(b.get('keyway.device.DoorStateChanged', 2)?.meta).toMatchObject({ status: 'deprecated', sunset: '2028-01-01' });
    // Its own registrations come back through the trail too, and are already known.
    expect(await a.refresh()).toBe(2);
    expect(await a.refresh()).toBe(0);
  });

  it('refuses a registration of a version another registry on the same trail registered since', async () => {
    const file = path.join(dir, 'audit.jsonl');
    const a = SchemaRegistry.fromEmbedded({ audit: new AuditTrail(new FileAuditStore(file)) });
    const b = SchemaRegistry.fromEmbedded({ audit: new AuditTrail(new FileAuditStore(file)) });
    const v3 = structuredClone(SCHEMA_DOCUMENTS.find((d) => d.file === 'device/DoorStateChanged.v2.json')!.document);
    v3.id = String(v3.id).replace('.v2.', '.v3.');
    Object.assign(v3['x-keyway'] as object, { version: 3 });
    await a.register(v3, { actor: 'alice' });
    const other = structuredClone(v3);
    other.description = 'a different v3';
    await expect(b.register(other, { actor: 'bob' })).rejects.toBeInstanceOf(KeywayError);
    expect((await b.audit.list()).filter((r) => r.action === 'register')).toHaveLength(1);
  });
});

function probeDoc(version: number, properties: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    $schema: 'http://json-schema.org/draft-04/schema#',
    id: `https://keyway.dev/schemas/delivery/Probe.v${version}.json`,
    type: 'object',
    additionalProperties: false,
    required: ['a'],
    properties: { a: { type: 'string' }, ...properties },
    ...extra,
    'x-keyway': { type: 'keyway.delivery.Probe', version, owner: 'delivery', consumers: [], status: 'active' },
  };
}

describe('refused versions leave no trace', () => {
  it('forgets a schema that does not compile, so a corrected one can take its version', async () => {
    const registry = SchemaRegistry.fromEmbedded();
    await registry.register(probeDoc(1, {}), { actor: 'alice' });
    const remote = probeDoc(2, { b: { $ref: 'http://127.0.0.1:9/remote.json' } }, { definitions: { inner: { id: 'https://example.com/inner.json', type: 'string' } } });
    await expect(registry.register(remote, { actor: 'alice', mode: 'NONE' })).rejects.toMatchObject({
      code: ErrorCode.SchemaInvalid,
      message: expect.stringMatching(/does not compile: can't resolve reference http:\/\/127\.0\.0\.1:9\/remote\.json/),
    });
    expect(registry.get('keyway.delivery.Probe', 2)).toBeUndefined();
    // The same version again, now valid, and reusing the nested id the refused one declared.
    const fixed = probeDoc(2, { b: { $ref: '#/definitions/inner' } }, { definitions: { inner: { id: 'https://example.com/inner.json', type: 'integer' } } });
    await expect(registry.register(fixed, { actor: 'alice', mode: 'NONE' })).resolves.toMatchObject({ version: 2 });
    expect((await registry.audit.list()).map((e) => e.version)).toEqual([1, 2]);
  });

  it('forgets a registration whose audit entry cannot be written', async () => {
    const store = new MemoryAuditStore();
    let broken = true;
    const flaky = { append: (r: AuditRecord) => (broken ? Promise.reject(new Error('disk full')) : store.append(r)), list: () => store.list() };
    const registry = SchemaRegistry.fromEmbedded({ audit: new AuditTrail(flaky) });
    await expect(registry.register(probeDoc(1, {}), { actor: 'alice' })).rejects.toThrow(/disk full/);
    expect(registry.get('keyway.delivery.Probe', 1)).toBeUndefined();
    expect(registry.types()).not.toContain('keyway.delivery.Probe');
    broken = false;
    await expect(registry.register(probeDoc(1, {}), { actor: 'alice' })).resolves.toMatchObject({ version: 1 });
  });
});

describe('size limits on schemas', () => {
  it('leaves the repository schemas far below every limit', () => {
    for (const { file, document } of SCHEMA_DOCUMENTS) {
      const { depth, properties } = measureSchema(document);
      expect(depth, file).toBeLessThanOrEqual(MAX_SCHEMA_DEPTH / 4);
      expect(properties, file).toBeLessThanOrEqual(MAX_SCHEMA_PROPERTIES / 8);
      expect(Buffer.byteLength(JSON.stringify(document)), file).toBeLessThanOrEqual(MAX_SCHEMA_BYTES / 16);
    }
  });

  it('refuses a schema nested too deep with SCHEMA_INVALID naming the depth, without overflowing the stack', async () => {
    const registry = SchemaRegistry.fromEmbedded();
    for (const levels of [500, 100_000]) {
      let deep: Record<string, unknown> = { type: 'string' };
      for (let i = 0; i < levels; i++) deep = { type: 'object', properties: { x: deep } };
      await expect(registry.register(probeDoc(1, { d: deep }), { actor: 'alice' })).rejects.toMatchObject({
        code: ErrorCode.SchemaInvalid,
        message: `<registered>: the schema is nested ${2 * levels + 3} levels deep; the limit is ${MAX_SCHEMA_DEPTH}`,
      });
    }
    expect(registry.get('keyway.delivery.Probe', 1)).toBeUndefined();
  });

  it('refuses a schema with too many properties or too many bytes before compiling it', async () => {
    const registry = SchemaRegistry.fromEmbedded();
    const wide: Record<string, unknown> = {};
    for (let i = 0; i < 12_000; i++) wide[`p${i}`] = { type: 'string', enum: ['a', 'b', 'c'] };
    const started = Date.now();
    await expect(registry.register(probeDoc(1, wide), { actor: 'alice' })).rejects.toMatchObject({
      code: ErrorCode.SchemaInvalid,
      message: `<registered>: the schema declares 12001 properties; the limit is ${MAX_SCHEMA_PROPERTIES}`,
      details: { limit: 'properties', value: 12_001, max: MAX_SCHEMA_PROPERTIES },
    });
    expect(Date.now() - started).toBeLessThan(1000);
    const long = probeDoc(1, {}, { description: 'x'.repeat(MAX_SCHEMA_BYTES) });
    await expect(registry.register(long, { actor: 'alice' })).rejects.toMatchObject({
      code: ErrorCode.SchemaInvalid,
      message: expect.stringMatching(/^<registered>: the schema is 6[0-9]{4} bytes; the limit is 65536 bytes \(64 KiB\)$/),
    });
    await expect(registry.register(probeDoc(1, {}), { actor: 'alice' })).resolves.toMatchObject({ version: 1 });
  });
});

describe('deprecation input', () => {
  it('refuses a sunset that is not in the future, by the registry clock, and audits nothing for it', async () => {
    const registry = SchemaRegistry.fromEmbedded({ now: () => new Date('2026-12-01T12:00:00Z') });
    for (const sunset of ['2000-01-01', '2026-12-01', '2026-12-01T12:00:00Z']) {
      await expect(registry.deprecate('keyway.device.Heartbeat', 1, { actor: 'alice', sunset })).rejects.toMatchObject({
        code: ErrorCode.InvalidInput,
        message: expect.stringMatching(/^sunset ".*" is not in the future \(now 2026-12-01T12:00:00\.000Z\); retire the version to end it at once$/),
      });
    }
    expect(registry.get('keyway.device.Heartbeat', 1)?.meta.status).toBe('active');
    expect(await registry.audit.list()).toEqual([]);
    await expect(registry.deprecate('keyway.device.Heartbeat', 1, { actor: 'alice', sunset: '2026-12-02' })).resolves.toMatchObject({ meta: { status: 'deprecated', sunset: '2026-12-02' } });
  });
});
