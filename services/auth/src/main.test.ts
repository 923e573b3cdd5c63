import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, waitFor } from '@relay-chat/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const serviceDir = join(dirname(fileURLToPath(import.meta.url)), '..');

interface Started {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/** Runs src/main.ts as the standalone service would run (workspace sources through tsx). */
function startMain(env: Record<string, string>): Started {
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', 'src/main.ts'], {
    cwd: serviceDir,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

describe('the standalone service (src/main.ts)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'auth-main-'));
  let port: number;
  let main: Started;
  const base = () => `http://127.0.0.1:${port}/api/auth`;
  const post = (path: string, body: object) =>
    fetch(`${base()}/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  beforeAll(async () => {
    port = await freePort();
    main = startMain({ PORT: String(port), DATA_DIR: dataDir, LOG_LEVEL: 'trace' });
    await waitFor(() => fetch(`${base()}/health`).then((r) => r.ok), {
      timeoutMs: 80_000,
      what: 'auth health',
    });
  }, 90_000);
  afterAll(async () => {
    if (main?.child.exitCode === null) main.child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('registers, logs in, refreshes and logs out over HTTP, logging no secret', async () => {
    const password = 'standalone secret password';
    expect((await post('register', { username: 'Dana', password })).status).toBe(201);
    expect((await post('login', { username: 'dana', password: 'wrong password!' })).status).toBe(401);
    const pair = await (await post('login', { username: 'dana', password })).json();
    const me = await fetch(`${base()}/me`, { headers: { authorization: `Bearer ${pair.accessToken}` } });
    expect(await me.json()).toEqual({ user: pair.user });
    const next = await (await post('refresh', { refreshToken: pair.refreshToken })).json();
    expect((await post('logout', { refreshToken: next.refreshToken })).status).toBe(204);

    const log = main.output();
    expect(log).toContain('Server listening');
    for (const secret of [
      password,
      'wrong password!',
      pair.accessToken,
      pair.refreshToken,
      next.refreshToken,
    ]) {
      expect(log).not.toContain(secret);
    }
  });

  it('shuts down cleanly on SIGTERM', async () => {
    main.child.kill('SIGTERM');
    expect(await main.exited).toBe(0);
    expect(main.output()).toContain('shutting down');
  });

  it('refuses to start on a bad variable and names it', async () => {
    const bad = startMain({ PORT: 'eighty', DATA_DIR: dataDir });
    expect(await bad.exited).toBe(1);
    expect(bad.output()).toContain('PORT: must be an integer');
  });
});
