import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['{shared,hub,agent,hardware-sim,test,scripts}/**/*.test.ts'],
    exclude: ['**/node_modules/**', 'dist/**'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
