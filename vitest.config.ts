import { configDefaults, defineConfig } from 'vitest/config';

/**
 * The abuse, fault and fuzz suites measure latency under attack against an idle baseline
 * taken in the same run: they run after every other suite, one file at a time, so no other
 * suite's load lands in their numbers (and theirs in no one else's).
 */
const LOAD_SUITES = ['tests/abuse/**/*.test.ts', 'tests/faults/**/*.test.ts', 'tests/fuzz/**/*.test.ts'];

// Workspace packages export their TypeScript sources under the "source" condition,
// so tests run against src/ without a build step.
export default defineConfig({
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default'],
    projects: [
      {
        extends: true,
        test: {
          name: 'default',
          include: [
            'packages/*/src/**/*.test.ts',
            'services/*/src/**/*.test.ts',
            'apps/*/src/**/*.test.{ts,tsx}',
            'tests/**/*.test.ts',
          ],
          exclude: [...configDefaults.exclude, ...LOAD_SUITES],
        },
      },
      {
        extends: true,
        test: {
          name: 'load',
          include: LOAD_SUITES,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
