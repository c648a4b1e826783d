import { defineConfig } from 'vitest/config';

// Three projects: unit (pure logic, fakes allowed), integration (real Docker Engine and real
// OpenBao clusters, one file at a time), e2e (the built CLI run as a user runs it).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['test/helpers/global-setup.ts'],
          fileParallelism: false,
          testTimeout: 240_000,
          hookTimeout: 240_000,
          // A failed cluster test must not be retried silently: it is reported as it is.
          retry: 0,
        },
      },
    ],
  },
});
