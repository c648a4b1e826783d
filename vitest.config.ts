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
          // Some unit tests replay a whole bootstrap against the fakes once per operation (25 runs
          // for Shamir): 2.5 s on a quiet machine, past vitest's 5 s default on a host at load 15,
          // which failed them once with nothing wrong. No unit test asserts a duration.
          testTimeout: 30_000,
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
