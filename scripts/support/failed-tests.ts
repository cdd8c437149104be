/**
 * Prints the failed tests of a vitest JSON report (file, name, error and the stack frames in Keyway's
 * own files), so a CI log ends with what failed and why.
 * Usage: tsx scripts/support/failed-tests.ts <results.json> [vitest output log]
 * With the log, also the "Unhandled Errors" vitest printed (errors outside any test fail a run too).
 */
import { existsSync, readFileSync } from 'node:fs';

interface TestResult {
  fullName: string;
  status: string;
  duration?: number;
  failureMessages?: string[];
}
interface FileResult {
  name: string;
  status: string;
  message?: string;
  assertionResults?: TestResult[];
}
interface Report {
  numTotalTests?: number;
  numPassedTests?: number;
  testResults?: FileResult[];
}

/** The message and the stack frames in Keyway's own files (library frames say little). */
function brief(message: string): string {
  const ours = message
    .split('\n')
    .filter((line) => !/^\s*at /.test(line) || !/node_modules|node:internal|<anonymous>/.test(line));
  return ours.slice(0, 14).join('\n  ');
}

const file = process.argv[2];
if (!file || !existsSync(file)) {
  console.log(`no test results at ${file ?? '(no path given)'}: the test run ended before writing them`);
} else {
  const report = JSON.parse(readFileSync(file, 'utf8')) as Report;
  const root = `${process.cwd()}/`;
  let failed = 0;
  for (const suite of report.testResults ?? []) {
    const name = suite.name.replace(root, '');
    const tests = suite.assertionResults ?? [];
    // A file can fail with no failed test: an error in a hook, at import, or an unhandled rejection.
    if (suite.status === 'failed' && tests.every((t) => t.status !== 'failed')) {
      failed++;
      console.log(`FAILED FILE ${name}\n  ${brief(suite.message ?? '(no message)')}`);
    }
    for (const t of tests) {
      if (t.status !== 'failed') continue;
      failed++;
      console.log(`FAILED ${name} > ${t.fullName} (${Math.round(t.duration ?? 0)} ms)`);
      for (const m of t.failureMessages ?? []) console.log(`  ${brief(m)}`);
    }
  }
  console.log(`${failed} failed; ${report.numPassedTests ?? '?'} of ${report.numTotalTests ?? '?'} tests passed`);
  // vitest fails a run on an unhandled error or rejection even when every test passed; the JSON report omits those.
  if (failed === 0) console.log('no test failed: vitest also fails a run on unhandled errors (below, when the log is given)');
}

const log = process.argv[3];
if (log && existsSync(log)) {
  // eslint-disable-next-line no-control-regex -- strips the colour codes vitest writes
  const lines = readFileSync(log, 'utf8').replace(/\x1b\[[0-9;]*m/g, '').split('\n');
  const start = lines.findIndex((l) => /Unhandled Errors?/.test(l));
  if (start >= 0) {
    const end = lines.findIndex((l, i) => i > start && /^\s*Test Files\s/.test(l));
    const block = lines.slice(start, end > start ? Math.min(end, start + 60) : start + 60);
    console.log(block.filter((l) => !/node_modules|node:internal/.test(l)).join('\n'));
  }
}
