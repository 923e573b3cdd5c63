/**
 * docker-compose.yml (+ overrides) as docker-compose 1.29 can read them: the files merged as
 * Docker Compose v2 merges them (`!override` replaces, mappings merge), with the top-level
 * `name:` dropped (1.29's schema refuses it; the project name goes on the command line with
 * -p). Nothing else changes: variables stay `${…}` for docker-compose to interpolate.
 *
 *   node --import tsx tests/compose/compose-v1.ts docker-compose.yml docker-compose.postgres.yml > v1.yml
 *   docker-compose --compatibility -p relay-chat --project-directory . -f v1.yml up --build -d
 */
import { resolve } from 'node:path';
import { stringify } from 'yaml';
import { mergeCompose, readComposeFile, type Yaml } from '../deploy/compose-file.js';

export function renderForComposeV1(files: readonly string[]): { yaml: string; name: string | undefined } {
  if (files.length === 0) throw new Error('no compose file');
  let merged: Yaml | undefined;
  for (const file of files) {
    const parsed = readComposeFile(resolve(file));
    merged = merged === undefined ? parsed : mergeCompose(merged, parsed);
  }
  if (merged === null || typeof merged !== 'object' || Array.isArray(merged)) {
    throw new Error(`${files.join(', ')}: not a compose file`);
  }
  const { name, ...rest } = merged;
  return {
    yaml: `# Rendered for docker-compose 1.29 from ${files.join(' + ')} (tests/compose/compose-v1.ts)\n${stringify(rest, { lineWidth: 0, version: '1.1' })}`,
    name: typeof name === 'string' ? name : undefined,
  };
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  process.stdout.write(renderForComposeV1(process.argv.slice(2)).yaml);
}
