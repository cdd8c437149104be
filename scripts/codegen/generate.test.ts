import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { generate, staleFiles } from './generate.js';
import { toZod, UnsupportedSchemaError } from './schema-to-code.js';

const root = path.resolve(import.meta.dirname, '../..');
const schemas = path.join(root, 'schemas');
const generated = path.join(root, 'shared/src/generated');
const temp: string[] = [];
afterEach(() => temp.splice(0).forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

function copyOfSchemas(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyway-codegen-'));
  temp.push(dir);
  fs.cpSync(schemas, dir, { recursive: true });
  return dir;
}

describe('generated code freshness', () => {
  it('finds the committed generated code up to date with the schemas', () => {
    expect(staleFiles(schemas, generated)).toEqual([]);
  });

  it('names the stale files when a schema changes and the code is not regenerated', () => {
    const dir = copyOfSchemas();
    const file = path.join(dir, 'device/Heartbeat.v1.json');
    const doc = JSON.parse(fs.readFileSync(file, 'utf8')) as { properties: Record<string, unknown> };
    doc.properties.temperatureC = { type: 'number' };
    fs.writeFileSync(file, JSON.stringify(doc));
    expect(staleFiles(dir, generated)).toEqual(['events.ts', 'validators.ts', 'schemas.ts']);
  });

  it('names a generated file that no schema produces any more', () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'keyway-gen-out-'));
    temp.push(out);
    for (const [name, content] of generate(schemas)) fs.writeFileSync(path.join(out, name), content);
    fs.writeFileSync(path.join(out, 'leftover.ts'), '');
    expect(staleFiles(schemas, out)).toEqual(['leftover.ts']);
  });

  it('refuses a keyword it cannot translate instead of dropping the rule', () => {
    expect(() => toZod({ type: 'object', properties: { a: { oneOf: [{ type: 'string' }] } } }, 'x.json')).toThrow(UnsupportedSchemaError);
    expect(() => toZod({ type: 'object', properties: { a: { oneOf: [] } } }, 'x.json')).toThrow(/x\.json\/properties\/a: keyword "oneOf"/);
  });
});
