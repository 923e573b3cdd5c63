/**
 * A Redis server of a test's own, for fault tests: `redis-server` on a free loopback port,
 * nothing persisted, and stopped (connections refused), restarted, paused (SIGSTOP) and
 * resumed at will — never the shared server on 6379.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './ports.js';
import { PrivateProcess } from './private-process.js';
import { waitFor } from './wait-for.js';

/** The redis-server binary: REDIS_SERVER_BIN, default `redis-server` on PATH. */
const REDIS_SERVER = process.env.REDIS_SERVER_BIN ?? 'redis-server';

export interface PrivateRedis {
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  /** Ends the server (SHUTDOWN NOSAVE via SIGTERM): connections drop, new ones are refused. */
  stop(): Promise<void>;
  /** Starts it again on the same port (empty: nothing is persisted); resolves when it answers PING. */
  start(): Promise<void>;
  /** stop() then start(). */
  restart(): Promise<void>;
  /** SIGSTOP: sockets stay open, nothing answers. */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
  /** Stops it and deletes its working directory. */
  remove(): Promise<void>;
}

/** Why a private Redis cannot run here, or undefined when it can. */
export function privateRedisUnavailableReason(): string | undefined {
  const probe = spawnSync(REDIS_SERVER, ['--version'], { encoding: 'utf8' });
  return probe.status === 0
    ? undefined
    : `${REDIS_SERVER} does not run (${probe.error?.message ?? probe.stderr})`;
}

export async function startPrivateRedis(options: { readyTimeoutMs?: number } = {}): Promise<PrivateRedis> {
  const reason = privateRedisUnavailableReason();
  if (reason) throw new Error(`cannot run a private Redis: ${reason}`);
  const dir = mkdtempSync(join(tmpdir(), 'relay-private-redis-'));
  const port = await freePort();
  const server = new PrivateProcess({
    label: `private Redis on ${port}`,
    command: REDIS_SERVER,
    args: [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      'no',
      '--daemonize',
      'no',
      '--loglevel',
      'warning',
    ],
  });
  const url = `redis://127.0.0.1:${port}`;

  const start = async () => {
    server.start();
    try {
      await waitFor(() => !server.running || answers(url), {
        timeoutMs: options.readyTimeoutMs ?? 10_000,
        intervalMs: 25,
        what: `private Redis on port ${port} to answer PING`,
      });
      if (!server.running) throw new Error('it exited');
    } catch (err) {
      server.killNow();
      throw new Error(`private Redis did not start: ${(err as Error).message}\n${server.output}`, {
        cause: err,
      });
    }
  };
  try {
    await start();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  const stop = () => server.stop('SIGTERM');
  return {
    url,
    port,
    stop,
    start,
    async restart() {
      await stop();
      await start();
    },
    pause: () => server.freeze(),
    resume: () => server.thaw(),
    async remove() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function answers(url: string): Promise<boolean> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 1000 });
  redis.on('error', () => {});
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}
