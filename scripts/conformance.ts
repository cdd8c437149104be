/**
 * Runs Keyway against the public conformance suites in a folder given as the first argument or CONFORMANCE_DIR
 * (for example `npm run conformance -- ../shared/conformance`). Prints a summary per suite and exits 1 on failures.
 */
import fs from 'node:fs';
import path from 'node:path';
import { runJsonSchemaConformance, type ConformanceReport } from './conformance/jsonschema.js';

const dir = path.resolve(process.argv[2] ?? process.env.CONFORMANCE_DIR ?? '../shared/conformance');
if (!fs.existsSync(dir)) {
  console.error(`conformance folder ${dir} does not exist; pass it as the first argument`);
  process.exit(2);
}

const suites: Array<[string, (d: string) => ConformanceReport]> = [['JSON-Schema-Test-Suite draft-04', runJsonSchemaConformance]];
let failed = 0;
for (const [name, run] of suites) {
  const report = run(dir);
  failed += report.failures.length;
  console.log(`${name}: ${report.passed}/${report.total} passed`);
  for (const f of report.failures) console.log(`  FAIL ${f.name}: ${f.reason}`);
}
process.exit(failed > 0 ? 1 : 0);
