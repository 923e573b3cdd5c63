/**
 * The embedded server (`apps/server`) as a child process, for tests that load it hard: the
 * server, the attackers and the test's own clients must not share one event loop, or the
 * test would measure itself.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, ServiceProcess } from '@relay-chat/cluster';
import { freePort } from '@relay-chat/testkit';

export interface EmbeddedProcess {
  /** Base URL, e.g. http://127.0.0.1:41234 */
  url: string;
  /** Its WebSocket endpoint. */
  wsUrl: string;
  process: ServiceProcess;
  /** Resident memory of the server process now, bytes (from /proc). */
  rssBytes(): number;
  /** The last lines of its log, for failure messages. */
  logTail(lines?: number): string;
  /** SIGTERM (SIGKILL after 10 s) and remove its data directory. Idempotent. */
  stop(): Promise<void>;
}

/** Starts `apps/server` from its sources (tsx) with SQLite in a temp directory. */
export async function startEmbeddedProcess(
  label: string,
  env: Record<string, string> = {},
): Promise<EmbeddedProcess> {
  const dir = mkdtempSync(join(tmpdir(), `relay-${label}-`));
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const logFile = join(dir, 'server.log');
  const server = new ServiceProcess({
    name: `embedded-${label}`,
    command: process.execPath,
    args: ['--conditions=source', '--import', 'tsx', join(REPO_ROOT, 'apps/server/src/main.ts')],
    env: {
      ...process.env,
      HOST: '127.0.0.1',
      PORT: String(port),
      DATA_DIR: dataDir,
      // The API only: these tests need no web client.
      WEB_DIR: join(dir, 'no-web-client'),
      LOG_LEVEL: 'warn',
      ...env,
    },
    cwd: REPO_ROOT,
    logFile,
    verbose: false,
    readyUrl: `${url}/api/chat/ready`,
    readyTimeoutMs: 120_000,
    stopTimeoutMs: 10_000,
  });
  await server.start();
  let stopped = false;
  return {
    url,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    process: server,
    rssBytes: () => rssBytesOf(server.pid),
    logTail: (lines = 20) => {
      try {
        return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
      } catch {
        return '';
      }
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** VmRSS of a process, bytes; 0 when it is gone. */
export function rssBytesOf(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
    return kb ? Number(kb) * 1024 : 0;
  } catch {
    return 0;
  }
}
