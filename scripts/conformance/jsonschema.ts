/**
 * Runs Keyway's draft-04 validator (the one the schema registry uses) against the official JSON-Schema-Test-Suite
 * (`<conformance>/jsonschema-draft4/tests/*.json`, remotes served from `<conformance>/jsonschema-draft4/remotes`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { createDraft04Ajv, ignoreRefSiblings } from '../../shared/src/registry/draft04.js';

export interface ConformanceReport {
  total: number;
  passed: number;
  failures: { name: string; reason: string }[];
}

interface SuiteGroup {
  description: string;
  schema: unknown;
  tests: { description: string; data: unknown; valid: boolean }[];
}

/**
 * ajv gives the own property "__proto__" of a parsed instance no schema of its own, so `{"__proto__": "foo"}` passes
 * `properties: {__proto__: {type: number}}`. Keyway's schemas never name such a property.
 */
export const JSON_SCHEMA_KNOWN_DEVIATIONS: ReadonlySet<string> = new Set([
  'properties.json / properties whose names are Javascript object property names / __proto__ not valid',
]);

const REMOTE_BASE = 'http://localhost:1234/';

function addRemotes(ajv: ReturnType<typeof createDraft04Ajv>, remotesDir: string): void {
  for (const rel of fs.readdirSync(remotesDir, { recursive: true, encoding: 'utf8' })) {
    if (!rel.endsWith('.json')) continue;
    const doc = JSON.parse(fs.readFileSync(path.join(remotesDir, rel), 'utf8')) as Record<string, unknown>;
    // Remotes written for later drafts name themselves with $id; draft-04 reads only `id`, so register by URL.
    ajv.addSchema(doc, `${REMOTE_BASE}${rel.split(path.sep).join('/')}`);
  }
}

export function runJsonSchemaConformance(conformanceDir: string): ConformanceReport {
  const base = path.join(conformanceDir, 'jsonschema-draft4');
  const testsDir = path.join(base, 'tests');
  const report: ConformanceReport = { total: 0, passed: 0, failures: [] };
  for (const file of fs.readdirSync(testsDir).filter((f) => f.endsWith('.json')).sort()) {
    const groups = JSON.parse(fs.readFileSync(path.join(testsDir, file), 'utf8')) as SuiteGroup[];
    for (const group of groups) {
      const ajv = createDraft04Ajv();
      addRemotes(ajv, path.join(base, 'remotes'));
      let validate: ((data: unknown) => boolean) | undefined;
      let compileError: string | undefined;
      try {
        validate = ajv.compile(ignoreRefSiblings(group.schema) as object);
      } catch (error) {
        compileError = (error as Error).message;
      }
      for (const test of group.tests) {
        report.total += 1;
        const name = `${file} / ${group.description} / ${test.description}`;
        if (!validate) {
          report.failures.push({ name, reason: `schema did not compile: ${compileError}` });
          continue;
        }
        const valid = validate(test.data);
        if (valid === test.valid) report.passed += 1;
        else report.failures.push({ name, reason: `expected ${test.valid ? 'valid' : 'invalid'}, got ${valid ? 'valid' : 'invalid'}` });
      }
    }
  }
  return report;
}
