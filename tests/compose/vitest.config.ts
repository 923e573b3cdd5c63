import { resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

/**
 * `npm run test:compose`: the Docker Compose deployment built and run for real
 * (tests/compose/compose.spec.ts). Not part of `npm test` (the root config includes only
 * *.test.ts): it builds images and runs containers for several minutes.
 */
export default defineConfig({
  root: resolve(import.meta.dirname, '../..'),
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    include: ['tests/compose/**/*.spec.ts'],
    globalSetup: ['tests/compose/global-setup.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 60 * 60_000,
    reporters: ['default'],
  },
});
