import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

/*
 * Runs the public EventBridge pattern conformance data (decided by AWS event-ruler) through
 * testPattern and RuleMatcher. The data lives outside the repository: CONFORMANCE_DIR, or else
 * <repo>/../shared/conformance. When neither exists the suite is skipped with a message.
 */
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const conformanceDir = process.env['CONFORMANCE_DIR'] ?? join(repoRoot, '..', 'shared', 'conformance');
const present = existsSync(join(conformanceDir, 'eventbridge-patterns', 'cases.json'));
if (!present) console.warn(`skipping EventBridge pattern conformance: no data at ${conformanceDir} (set CONFORMANCE_DIR)`);

/** Cases we knowingly decide differently from event-ruler, with the reason for each. None today. */
const KNOWN_DEVIATIONS: Record<string, string> = {};

interface ConformanceResult {
  total: number;
  passed: number;
  failures: { name: string; reason: string }[];
}

describe.skipIf(!present)('EventBridge pattern conformance (event-ruler decided cases)', () => {
  it('when every public case is run, each one is decided as event-ruler decides it', async () => {
    // Loaded by URL so the shared workspace's type-check does not pull in the scripts folder.
    const runner = (await import(pathToFileURL(join(repoRoot, 'scripts', 'conformance', 'patterns.ts')).href)) as {
      runPatternConformance: (dir: string) => ConformanceResult;
    };
    const result = runner.runPatternConformance(conformanceDir);
    const unexpected = result.failures.filter((f) => !(f.name in KNOWN_DEVIATIONS));
    expect(unexpected).toEqual([]);
    expect(result.total).toBeGreaterThanOrEqual(566 + 95);
  });
});
