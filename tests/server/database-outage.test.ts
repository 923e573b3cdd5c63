/**
 * The auth service over real HTTP while its PostgreSQL fails: a private server (never the
 * shared one) refuses connections, then freezes. Logins must answer 503 `unavailable` in a
 * few seconds — not hang for as long as the outage lasts, not a 500 `internal` — and work
 * again as soon as the database does.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AuthService, createAuthService, loadAuthConfig } from '@relay-chat/auth';
import {
  createHttpServer,
  createLogger,
  DEFAULT_DATABASE_LIMITS,
  type HttpServer,
} from '@relay-chat/service-kit';
import {
  type PrivatePostgres,
  privatePostgresUnavailableReason,
  startPrivatePostgres,
} from '@relay-chat/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from '../support/http.js';

const reason = privatePostgresUnavailableReason();
if (reason) console.warn(`\n!!! private PostgreSQL unavailable (${reason}): SKIPPING the outage tests !!!\n`);

const credentials = { username: 'outage', password: 'correct horse battery' };

describe.skipIf(reason !== undefined)('auth while PostgreSQL is down', () => {
  let database: PrivatePostgres;
  let dataDir: string;
  let auth: AuthService;
  let app: HttpServer;
  let url: string;

  beforeAll(async () => {
    database = await startPrivatePostgres();
    dataDir = mkdtempSync(join(tmpdir(), 'relay-outage-'));
    const config = loadAuthConfig({
      DATA_DIR: dataDir,
      DATABASE_URL: await database.createDatabase('auth'),
      AUTH_SIGNING_KEY: generateKeyPairSync('ed25519')
        .privateKey.export({ format: 'pem', type: 'pkcs8' })
        .toString(),
    });
    const logger = createLogger({ name: 'outage-test', level: 'silent' });
    auth = await createAuthService(config, logger, { passwordParams: { N: 2 ** 10, r: 8, p: 1 } });
    app = createHttpServer({ logger });
    await auth.register(app);
    url = await app.listen({ host: '127.0.0.1', port: 0 });
    const registered = await request(url, 'POST', '/api/auth/register', { body: credentials });
    expect(registered.status).toBe(201);
  }, 60_000);

  afterAll(async () => {
    database?.thaw();
    await app?.close();
    await auth?.close();
    await database?.remove();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }, 30_000);

  async function login(): Promise<{ status: number; code: string | undefined; ms: number }> {
    const started = performance.now();
    const response = await request<{ error?: { code: string } }>(url, 'POST', '/api/auth/login', {
      body: credentials,
    });
    return { status: response.status, code: response.body.error?.code, ms: performance.now() - started };
  }

  it('logs in while the database answers', async () => {
    expect(await login()).toMatchObject({ status: 200, code: undefined });
  });

  it('answers 503 unavailable at once while PostgreSQL refuses connections, and logs in again after', async () => {
    await database.stop();
    try {
      for (let i = 0; i < 3; i++) {
        const attempt = await login();
        expect(attempt).toMatchObject({ status: 503, code: 'unavailable' });
        expect(attempt.ms).toBeLessThan(1000);
      }
      const ready = await request<{ error: { code: string } }>(url, 'GET', '/api/auth/ready');
      expect([ready.status, ready.body.error.code]).toEqual([503, 'unavailable']);
    } finally {
      await database.start();
    }
    expect(await login()).toMatchObject({ status: 200 });
  }, 30_000);

  it('answers 503 unavailable within the query timeout while PostgreSQL is frozen, and logs in again after', async () => {
    expect((await login()).status).toBe(200); // the pool holds a connection that will freeze
    database.freeze();
    try {
      const attempts = await Promise.all([login(), login(), login()]);
      for (const attempt of attempts) {
        expect(attempt).toMatchObject({ status: 503, code: 'unavailable' });
        expect(attempt.ms).toBeLessThan(DEFAULT_DATABASE_LIMITS.queryTimeoutMs + 700);
      }
    } finally {
      database.thaw();
    }
    const after = await login();
    expect(after.status).toBe(200);
    expect(after.ms).toBeLessThan(1000);
  }, 30_000);
});
