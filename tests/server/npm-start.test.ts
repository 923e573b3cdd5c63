/**
 * `npm start` as a user runs it: the README's command, stopped the way a user stops it
 * (a `kill` of the npm process, or Ctrl-C). Everything it started must stop within the
 * server's drain time — not leave the server answering behind a dead npm.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, waitFor } from '@relay-chat/testkit';
import { afterEach, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** The embedded server's own drain limit is 15 s; a clean stop takes far less. */
const STOP_WITHIN_MS = 10_000;

async function answers(url: string): Promise<boolean> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(1000) })).ok;
  } catch {
    return false;
  }
}

describe('npm start', () => {
  const started: ChildProcess[] = [];
  const dirs: string[] = [];
  afterEach(() => {
    for (const child of started.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it.each(['SIGTERM', 'SIGINT'] as const)(
    'stops the server when the npm process gets %s',
    async (signal) => {
      const port = await freePort();
      const dataDir = mkdtempSync(join(tmpdir(), 'relay-npm-start-'));
      dirs.push(dataDir);
      const npm = spawn('npm', ['start'], {
        cwd: ROOT,
        env: { ...process.env, PORT: String(port), DATA_DIR: dataDir, LOG_LEVEL: 'warn' },
        stdio: 'ignore',
      });
      started.push(npm);
      const health = `http://127.0.0.1:${port}/api/chat/health`;
      await waitFor(() => answers(health), {
        timeoutMs: 150_000,
        intervalMs: 500,
        what: 'npm start to serve',
      });

      npm.kill(signal);
      const stoppedAt = Date.now();
      await waitFor(async () => !(await answers(health)), {
        timeoutMs: STOP_WITHIN_MS,
        intervalMs: 200,
        what: `the server to stop after ${signal} to npm`,
      });
      expect(Date.now() - stoppedAt).toBeLessThan(STOP_WITHIN_MS);
    },
    180_000,
  );
});
