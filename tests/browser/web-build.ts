/**
 * Builds the web client (apps/web/dist) for the browser tests when it is missing or older
 * than its sources, so `vitest run tests/browser` works on a fresh checkout. Test files run
 * in parallel workers: a lock directory makes one build at a time, the others wait for it.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const WEB_DIR = join(ROOT, 'apps/web');
export const WEB_DIST = join(WEB_DIR, 'dist');
const LOCK = join(WEB_DIR, '.build-lock');
/** A lock older than this was left by a killed run. */
const STALE_LOCK_MS = 5 * 60_000;

/** Everything the bundle is made from: the app and the workspace packages it bundles. */
const SOURCES = [
  join(WEB_DIR, 'src'),
  join(WEB_DIR, 'index.html'),
  join(WEB_DIR, 'vite.config.ts'),
  join(WEB_DIR, 'public'),
  join(ROOT, 'packages/sdk/src'),
  join(ROOT, 'packages/protocol/src'),
];

function newestMtimeMs(path: string): number {
  let stat: ReturnType<typeof statSync>;
  try {
    stat = statSync(path);
  } catch {
    return 0;
  }
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtimeMs(join(path, entry)));
  return newest;
}

function builtAtMs(): number {
  try {
    return statSync(join(WEB_DIST, 'index.html')).mtimeMs;
  } catch {
    return 0;
  }
}

function isStale(): boolean {
  const built = builtAtMs();
  return built === 0 || SOURCES.some((source) => newestMtimeMs(source) > built);
}

async function acquireLock(): Promise<void> {
  for (;;) {
    try {
      mkdirSync(LOCK);
      return;
    } catch {
      try {
        if (Date.now() - statSync(LOCK).mtimeMs > STALE_LOCK_MS)
          rmSync(LOCK, { recursive: true, force: true });
      } catch {
        // Released meanwhile: try again.
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

/** Builds apps/web/dist unless it is up to date with its sources. */
export async function ensureWebBuilt(): Promise<void> {
  if (!isStale()) return;
  await acquireLock();
  try {
    if (!isStale()) return;
    await run(join(ROOT, 'node_modules/.bin/vite'), ['build', '--logLevel', 'warn'], {
      cwd: WEB_DIR,
      // Under vitest NODE_ENV is "test", which would bundle React's development build.
      env: { ...process.env, NODE_ENV: 'production' },
      maxBuffer: 16 * 1024 * 1024,
    });
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}
