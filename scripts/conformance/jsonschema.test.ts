import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { JSON_SCHEMA_KNOWN_DEVIATIONS, runJsonSchemaConformance } from './jsonschema.js';

const dir = process.env.CONFORMANCE_DIR ?? path.resolve(import.meta.dirname, '../../../shared/conformance');
const present = fs.existsSync(path.join(dir, 'jsonschema-draft4/tests'));
if (!present) console.warn(`JSON-Schema-Test-Suite not found at ${dir}: set CONFORMANCE_DIR to the conformance folder to run it`);

const KNOWN_DEVIATIONS = JSON_SCHEMA_KNOWN_DEVIATIONS;

describe.skipIf(!present)('the registry validator on the official JSON-Schema-Test-Suite (draft-04)', () => {
  it('decides every case as the suite does, apart from the listed deviations', () => {
    const report = runJsonSchemaConformance(dir);
    expect(report.total).toBe(618);
    const unexpected = report.failures.filter((f) => !KNOWN_DEVIATIONS.has(f.name));
    expect(unexpected).toEqual([]);
    expect(report.passed).toBe(report.total - KNOWN_DEVIATIONS.size);
  });
});
