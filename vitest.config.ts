import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Two cores on CI: keep workers bounded so heavy tests do not starve each other.
    maxWorkers: 2,
    pool: 'forks',
  },
});
