#!/usr/bin/env node
/**
 * Prints the directories of the named workspaces and of every workspace they depend on
 * (dependencies, transitively), in dependency order, space-separated:
 *   node scripts/workspace-closure.mjs @relay-chat/auth @relay-chat/chat
 *   → packages/protocol packages/service-kit packages/tokens services/auth services/chat
 * deploy/docker/Dockerfile.service compiles just these (`tsc -b $(…)`): what the service
 * images run, and nothing else, so a rebuild after a code change type-checks no more than it must.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = JSON.parse(readFileSync('package.json', 'utf8'));
const dirs = new Map();
for (const pattern of root.workspaces ?? []) {
  const parent = pattern.replace(/\/\*$/, '');
  for (const name of existsSync(parent) ? readdirSync(parent) : []) {
    const file = join(parent, name, 'package.json');
    if (existsSync(file)) dirs.set(JSON.parse(readFileSync(file, 'utf8')).name, join(parent, name));
  }
}
const order = [];
const visit = (name, from) => {
  if (order.includes(name)) return;
  const dir = dirs.get(name);
  if (!dir) throw new Error(`${from ?? 'command line'}: no workspace named ${name}`);
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  for (const dep of Object.keys(manifest.dependencies ?? {})) if (dirs.has(dep)) visit(dep, name);
  order.push(name);
};
const wanted = process.argv.slice(2);
if (wanted.length === 0) throw new Error('usage: workspace-closure.mjs <workspace name>…');
for (const name of wanted) visit(name);
console.log(order.map((name) => dirs.get(name)).join(' '));
