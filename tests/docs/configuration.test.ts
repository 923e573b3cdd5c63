/**
 * docs/configuration.md lists every environment variable a config loader reads: a new
 * setting without a line there fails here.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string) => readFileSync(root + path, 'utf8');

const LOADERS = [
  'packages/service-kit/src/config.ts',
  'packages/service-kit/src/logger.ts',
  'services/auth/src/config.ts',
  'services/chat/src/config.ts',
  'apps/server/src/config.ts',
  'apps/cluster/src/config.ts',
];

/** Names passed to the env readers: `envInt(env, 'NAME'`, `pemOf(env, 'NAME'`, a default `name = 'NAME'`. */
function variablesReadBy(source: string): string[] {
  const names = new Set<string>();
  for (const match of source.matchAll(/\(\s*env,\s*'([A-Z][A-Z0-9_]+)'/g)) names.add(match[1]!);
  for (const match of source.matchAll(/name = '([A-Z][A-Z0-9_]+)'/g)) names.add(match[1]!);
  return [...names].sort();
}

describe('docs/configuration.md', () => {
  const doc = read('docs/configuration.md');

  it.each(LOADERS)('documents every variable %s reads', (loader) => {
    const names = variablesReadBy(read(loader));
    expect(names.length).toBeGreaterThan(0);
    const missing = names.filter((name) => !doc.includes(`\`${name}\``));
    expect(missing).toEqual([]);
  });
});
