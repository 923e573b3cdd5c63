import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as client from './client.js';
import * as full from './index.js';

/** Relative modules `file` loads at run time (type-only imports and exports are erased). */
function runtimeImports(source: string): string[] {
  const specifiers: string[] = [];
  for (const match of source.matchAll(/^(?:import|export)\s+(?!type\b)[^;]*?from\s+'([^']+)'/gms)) {
    specifiers.push(match[1]!);
  }
  return specifiers;
}

describe('the client entry (@relay-chat/protocol under the browser condition)', () => {
  it('loads no schema library, directly or through the modules it uses', () => {
    const seen = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const specifier of runtimeImports(readFileSync(new URL(file, import.meta.url), 'utf8'))) {
        expect(specifier, `${file} imports ${specifier}`).toMatch(/^\.\//);
        visit(specifier.replace(/\.js$/, '.ts'));
      }
    };
    visit('./client.ts');
    expect([...seen].sort()).toEqual([
      './client.ts',
      './constants.ts',
      './errors.ts',
      './ids.ts',
      './text.ts',
    ]);
  });

  it('exports the same values as the full entry for everything it has', () => {
    const fullEntry = new Map(Object.entries(full));
    for (const [name, value] of Object.entries(client)) expect(fullEntry.get(name), name).toBe(value);
  });
});
