/**
 * The embedded server (auth + chat + the web client in one process, SQLite) on a free
 * port with its own data directory, for cross-service tests — one place for the set-up
 * the test files share. `close()` stops it and removes its files.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type EmbeddedServer, startEmbeddedServer } from '@relay-chat/server';
import { freePort } from '@relay-chat/testkit';
import { wsUrlOf } from './http.js';

export interface TestServer {
  server: EmbeddedServer;
  /** e.g. http://127.0.0.1:40123 */
  url: string;
  /** e.g. ws://127.0.0.1:40123/ws */
  wsUrl: string;
  dataDir: string;
  close(): Promise<void>;
}

/** Starts the embedded server; `env` adds to (or overrides) the test defaults. Rejects as the server does. */
export async function startTestServer(env: Record<string, string> = {}): Promise<TestServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'relay-test-'));
  let server: EmbeddedServer;
  try {
    server = await startEmbeddedServer({
      PORT: String(await freePort()),
      DATA_DIR: dataDir,
      LOG_LEVEL: 'silent',
      // Tests register many users from one address.
      REGISTER_PER_ADDRESS_PER_HOUR: '100000',
      ...env,
    });
  } catch (err) {
    // A test may expect the start to fail (a bad setting): leave nothing behind.
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  return {
    server,
    url: server.url,
    wsUrl: wsUrlOf(server.url),
    dataDir,
    async close() {
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
