/**
 * Runs Keyway's pattern matcher against the public EventBridge pattern conformance data
 * (decided by AWS's event-ruler). The data stays outside the repository; pass its folder.
 *
 *   npx tsx scripts/conformance/patterns.ts ../shared/conformance
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { RuleMatcher, compilePattern, testPattern } from '@keyway/shared/patterns';

export interface ConformanceFailure {
  name: string;
  reason: string;
}

export interface ConformanceResult {
  total: number;
  passed: number;
  failures: ConformanceFailure[];
}

interface MatchCase {
  name: string;
  pattern: unknown;
  event: unknown;
  match: boolean;
}

interface InvalidCase {
  name: string;
  pattern_text: string;
  reason: string;
}

interface AmbiguousCase {
  name: string;
  pattern_text: string;
  event_text: string;
  event_ruler_match: boolean;
}

function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

function describeThrown(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Checks both the reference interpreter (testPattern) and the compiled RuleMatcher on every case. */
function checkMatch(name: string, pattern: unknown, event: unknown, expected: boolean): ConformanceFailure | null {
  try {
    const viaReference = testPattern(pattern, event);
    const matcher = new RuleMatcher();
    matcher.add('rule', pattern);
    const viaMatcher = matcher.match(event).includes('rule');
    if (viaReference !== expected || viaMatcher !== expected) {
      return { name, reason: `expected ${expected ? 'match' : 'no match'}, testPattern gave ${viaReference}, RuleMatcher gave ${viaMatcher}` };
    }
    return null;
  } catch (error) {
    return { name, reason: `threw: ${describeThrown(error)}` };
  }
}

export function runPatternConformance(dir: string): ConformanceResult {
  const root = join(dir, 'eventbridge-patterns');
  const failures: ConformanceFailure[] = [];
  let total = 0;

  for (const c of readJson<MatchCase[]>(join(root, 'cases.json'))) {
    total++;
    const failure = checkMatch(c.name, c.pattern, c.event, c.match);
    if (failure) failures.push(failure);
  }

  for (const c of readJson<InvalidCase[]>(join(root, 'invalid-patterns.json'))) {
    total++;
    try {
      compilePattern(c.pattern_text);
      failures.push({ name: c.name, reason: `accepted a pattern event-ruler refuses (${c.reason})` });
    } catch (error) {
      if (!(error instanceof Error) || (error as { code?: unknown }).code !== 'INVALID_PATTERN') {
        failures.push({ name: c.name, reason: `refused with the wrong error: ${describeThrown(error)}` });
      }
    }
  }

  for (const c of readJson<AmbiguousCase[]>(join(root, 'ambiguous.json'))) {
    total++;
    const failure = checkMatch(`ambiguous: ${c.name}`, c.pattern_text, JSON.parse(c.event_text), c.event_ruler_match);
    if (failure) failures.push(failure);
  }

  total++;
  const rule = readFileSync(join(root, 'big-event', 'bigEventRule.json'), 'utf8');
  const bigEvent: unknown = JSON.parse(readFileSync(join(root, 'big-event', 'bigEvent.json'), 'utf8'));
  const started = performance.now();
  const failure = checkMatch('big-event: bigEventRule matches bigEvent', rule, bigEvent, true);
  const elapsed = performance.now() - started;
  if (failure) failures.push(failure);
  else if (elapsed > 500) failures.push({ name: 'big-event: bigEventRule matches bigEvent', reason: `took ${elapsed.toFixed(0)} ms, over 500 ms` });

  return { total, passed: total - failures.length, failures };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const dir = process.argv[2] ?? process.env['CONFORMANCE_DIR'] ?? join(process.cwd(), '..', 'shared', 'conformance');
  const result = runPatternConformance(dir);
  for (const f of result.failures) console.log(`FAIL ${f.name}: ${f.reason}`);
  console.log(`${result.passed}/${result.total} passed`);
  console.log(JSON.stringify({ total: result.total, passed: result.passed, failed: result.failures.length }));
  process.exitCode = result.failures.length === 0 ? 0 : 1;
}
