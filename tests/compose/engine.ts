/**
 * The Docker engine the compose test needs, installed and started when it is missing:
 * Debian's docker.io (dockerd 20.10, legacy builder), docker-compose 1.29 and debootstrap.
 * dockerd runs with overlay2 storage under `nice -n 19`, so every build step and container it
 * starts has the lowest CPU priority (other work on this 2-core machine is timing-sensitive).
 * An engine this test started is left running: its image cache is what makes the next run fast.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { commandExists, run } from './exec.js';

export const DOCKERD_LOG = '/var/log/relay-chat-dockerd.log';

export type EngineStatus =
  | { available: true; serverVersion: string; startedHere: boolean; installed: string[] }
  | { available: false; reason: string };

/** The server version when an engine answers, else undefined. */
export async function engineVersion(): Promise<string | undefined> {
  if (!(await commandExists('docker'))) return undefined;
  const info = await run('docker', ['version', '--format', '{{.Server.Version}}'], {
    timeoutMs: 20_000,
    allowFailure: true,
  });
  return info.code === 0 && info.stdout.trim() ? info.stdout.trim() : undefined;
}

/** Makes sure dockerd, docker-compose and debootstrap are there and dockerd answers. */
export async function ensureEngine(log: string): Promise<EngineStatus> {
  const installed: string[] = [];
  const missing: string[] = [];
  for (const [bin, pkg] of [
    ['dockerd', 'docker.io'],
    ['docker-compose', 'docker-compose'],
    ['debootstrap', 'debootstrap'],
  ] as const) {
    if (!(await commandExists(bin))) missing.push(pkg);
  }
  if (missing.length > 0) {
    if (process.getuid?.() !== 0)
      return { available: false, reason: `missing ${missing.join(', ')} (not root)` };
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const install = () =>
      run('apt-get', ['install', '-y', '--no-install-recommends', ...missing], {
        timeoutMs: 15 * 60_000,
        env,
        log,
        allowFailure: true,
        nice: true,
      });
    let result = await install();
    if (result.code !== 0) {
      await run('apt-get', ['update'], { timeoutMs: 5 * 60_000, env, log, allowFailure: true });
      result = await install();
    }
    if (result.code !== 0)
      return { available: false, reason: `apt-get install ${missing.join(' ')} failed (see ${log})` };
    installed.push(...missing);
  }

  const running = await engineVersion();
  if (running) return { available: true, serverVersion: running, startedHere: false, installed };
  if (process.getuid?.() !== 0) return { available: false, reason: 'no Docker engine answers (not root)' };

  // Detached, its own session, output to a file: it outlives this test run on purpose.
  const out = openSync(DOCKERD_LOG, 'a');
  const child = spawn('nice', ['-n', '19', 'dockerd', '--storage-driver=overlay2'], {
    detached: true,
    stdio: ['ignore', out, out],
  });
  child.on('error', () => {});
  child.unref();
  closeSync(out);
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const version = await engineVersion();
    if (version) return { available: true, serverVersion: version, startedHere: true, installed };
    if (child.exitCode !== null) break;
  }
  const tail = readFileSync(DOCKERD_LOG, 'utf8').trim().split('\n').slice(-15).join('\n');
  return { available: false, reason: `dockerd did not start within 90 s (${DOCKERD_LOG}):\n${tail}` };
}
