/**
 * Runs Keyway against the public conformance suites in a folder given as the first argument or CONFORMANCE_DIR
 * (for example `npm run conformance -- ../shared/conformance`). Prints a summary per suite and exits 1 when a case
 * fails that is not a documented deviation.
 */
import fs from 'node:fs';
import path from 'node:path';
import { JSON_SCHEMA_KNOWN_DEVIATIONS, runJsonSchemaConformance } from './conformance/jsonschema.js';
import { runPatternConformance } from './conformance/patterns.js';

interface Report {
  total: number;
  passed: number;
  failures: { name: string; reason: string }[];
}

const dir = path.resolve(process.argv[2] ?? process.env.CONFORMANCE_DIR ?? '../shared/conformance');
if (!fs.existsSync(dir)) {
  console.error(`conformance folder ${dir} does not exist; pass it as the first argument`);
  process.exit(2);
}

const suites: Array<[string, (d: string) => Report, ReadonlySet<string>]> = [
  ['EventBridge patterns (event-ruler cases)', runPatternConformance, new Set()],
  ['JSON-Schema-Test-Suite draft-04', runJsonSchemaConformance, JSON_SCHEMA_KNOWN_DEVIATIONS],
];
let unexpected = 0;
for (const [name, run, deviations] of suites) {
  const report = run(dir);
  console.log(`${name}: ${report.passed}/${report.total} passed`);
  for (const f of report.failures) {
    const known = deviations.has(f.name);
    if (!known) unexpected += 1;
    console.log(`  ${known ? 'KNOWN DEVIATION' : 'FAIL'} ${f.name}: ${f.reason}`);
  }
}
console.log(unexpected === 0 ? 'conformance: ok' : `conformance: ${unexpected} unexpected failures`);
process.exit(unexpected > 0 ? 1 : 0);
