/**
 * Starts the real auth service for route tests, on SQLite (a temporary DATA_DIR) or on a fresh
 * PostgreSQL database, mounted in a real Fastify server driven with `app.inject`. Exists so
 * every route suite runs unchanged against both backends (`describe.each(BACKENDS)`).
 *
 * Passwords are hashed at a low test cost (TEST_PASSWORD_PARAMS, ~1 ms) unless a suite asks
 * for `productionHashing`: the OWASP cost is ~0.6 s per hash on this machine, and throttling or
 * directory tests exercise the same code at any cost. passwords.test.ts asserts the production
 * parameters, and the main session suite runs at them.
 *
 * Registration bounds are raised (suites register many users from 127.0.0.1) unless `env` sets
 * them.
 *
 * The signing key is generated here and passed as AUTH_SIGNING_KEY, so tests can forge tokens
 * with it (and with other keys). The clock is controllable, for the refresh grace window, token
 * expiry and the throttling window; it only moves when a test says so.
 */
import { generateKeyPairSync, type KeyObject, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asUserId, type User } from '@relay-chat/protocol';
import { createHttpServer, createLogger, type Env, type HttpServer } from '@relay-chat/service-kit';
import { createTestDatabase, pgAvailable } from '@relay-chat/testkit';
import { type AuthService, type AuthServiceOptions, createAuthService } from '../app.js';
import { type AuthConfig, loadAuthConfig } from '../config.js';
import { openUserStore } from '../store/kysely.js';
import type { UserStore } from '../store/user-store.js';

export interface Backend {
  name: 'SQLite' | 'PostgreSQL';
  available: boolean;
}

export const BACKENDS: Backend[] = [
  { name: 'SQLite', available: true },
  { name: 'PostgreSQL', available: await pgAvailable() },
];

export interface TestClock {
  now(): number;
  /** Moves the clock forward, ms. */
  advance(ms: number): void;
}

export interface Harness {
  app: HttpServer;
  service: AuthService;
  config: Readonly<AuthConfig>;
  /** A second, independent connection to the service's database (setup and inspection). */
  store: UserStore;
  clock: TestClock;
  /** The service's signing key. */
  signingKey: KeyObject;
  /** Inserts a user directly (no password hashing): for tests that need users, not logins. */
  seedUser(username: string): Promise<User>;
  close(): Promise<void>;
}

/** scrypt at a cost for tests only: 2^10 instead of 2^17. */
export const TEST_PASSWORD_PARAMS = { N: 2 ** 10, r: 8, p: 1 };

export interface HarnessSetup {
  /** Extra environment for loadAuthConfig. */
  env?: Env;
  options?: AuthServiceOptions;
  /** Hash passwords at the OWASP production cost. Default false (TEST_PASSWORD_PARAMS). */
  productionHashing?: boolean;
}

export async function startAuth(backend: Backend, setup: HarnessSetup = {}): Promise<Harness> {
  const dataDir = mkdtempSync(join(tmpdir(), 'auth-test-'));
  const database = backend.name === 'PostgreSQL' ? await createTestDatabase('auth') : undefined;
  const { privateKey } = generateKeyPairSync('ed25519');
  const config = loadAuthConfig({
    DATA_DIR: dataDir,
    DATABASE_URL: database?.url,
    AUTH_SIGNING_KEY: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    // Route suites register many users from one address; the bounds have their own tests.
    REGISTER_PER_ADDRESS_PER_HOUR: '100000',
    REGISTER_PER_HOUR: '100000',
    REGISTER_REFUSAL_DELAY_MS: '0',
    ...setup.env,
  });
  let offsetMs = 0;
  const clock: TestClock = {
    now: () => Date.now() + offsetMs,
    advance: (ms) => {
      offsetMs += ms;
    },
  };
  const logger = createLogger({ name: 'auth-test', level: 'silent' });
  const service = await createAuthService(config, logger, {
    now: clock.now,
    passwordParams: setup.productionHashing ? undefined : TEST_PASSWORD_PARAMS,
    ...setup.options,
  });
  const app = createHttpServer({ logger, trustProxy: config.trustProxy });
  await service.register(app);
  await app.ready();
  const store = openUserStore(config.databaseUrl);

  return {
    app,
    service,
    config,
    store,
    clock,
    signingKey: privateKey,
    async seedUser(username) {
      const user = { id: asUserId(randomUUID()), username };
      await store.createUser({ ...user, passwordHash: 'not-a-hash', createdAt: clock.now() });
      return user;
    },
    async close() {
      await app.close();
      await service.close();
      await store.close();
      await database?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** `Authorization` header for a bearer token. */
export function bearer(token: string): { authorization: string } {
  return { authorization: `Bearer ${token}` };
}
