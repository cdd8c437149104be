import { defineConfig } from 'vitest/config';

// In CI the results are also written as JSON, so .ci/run can end a failed run with the names and
// errors of the failed tests (the last lines of a CI log are often all that is read).
const ciResults = process.env.KEYWAY_TEST_RESULTS;

export default defineConfig({
  test: {
    include: ['{shared,hub,agent,hardware-sim,test,scripts}/**/*.test.ts'],
    exclude: ['**/node_modules/**', 'dist/**'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks',
    reporters: ciResults ? ['default', 'json'] : ['default'],
    ...(ciResults ? { outputFile: { json: ciResults } } : {}),
  },
});
