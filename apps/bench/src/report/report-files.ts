import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunResult } from '../run-result.js';
import { renderHtml } from './html-report.js';

/** Writes `<name>.json` (the whole result) and `<name>.html` (the report) into `dir`. */
export function writeReports(result: RunResult, dir: string, name: string): { json: string; html: string } {
  mkdirSync(dir, { recursive: true });
  const json = join(dir, `${name}.json`);
  const html = join(dir, `${name}.html`);
  writeFileSync(json, `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(html, renderHtml(result));
  return { json, html };
}
