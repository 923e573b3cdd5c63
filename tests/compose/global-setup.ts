/**
 * Before the compose test: a Docker engine (installed and started when missing) and the
 * local stand-ins for the upstream images (built when missing). Without an engine the test is
 * skipped with the reason, except under CI=true, where that is a failure.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { ensureEngine } from './engine.js';
import { seconds } from './exec.js';
import { describeFigures, ensureStandIns, type ImageFigure, type StandIns } from './images.js';
import { REPO_ROOT } from './stack.js';

export type ComposeEngine =
  | { available: true; serverVersion: string; images: StandIns; figures: ImageFigure[]; logDir: string }
  | { available: false; reason: string };

declare module 'vitest' {
  export interface ProvidedContext {
    composeEngine: ComposeEngine;
  }
}

export const LOG_DIR = join(REPO_ROOT, 'test-results/compose');

export default async function setup(project: TestProject): Promise<void> {
  mkdirSync(LOG_DIR, { recursive: true });
  const log = join(LOG_DIR, 'images.log');
  const engine = await ensureEngine(log);
  if (!engine.available) {
    if (process.env.CI === 'true') throw new Error(`CI=true and no Docker engine: ${engine.reason}`);
    console.warn(`compose test skipped: ${engine.reason}`);
    project.provide('composeEngine', engine);
    return;
  }
  const started = Date.now();
  const { images, figures } = await ensureStandIns(log);
  console.log(
    `Docker ${engine.serverVersion}${engine.startedHere ? ' (started by this run)' : ''}` +
      `${engine.installed.length ? `, installed ${engine.installed.join(' ')}` : ''}\n` +
      `base and stand-in images in ${seconds(Date.now() - started)}:\n${describeFigures(figures)}`,
  );
  project.provide('composeEngine', {
    available: true,
    serverVersion: engine.serverVersion,
    images,
    figures,
    logDir: LOG_DIR,
  });
}
