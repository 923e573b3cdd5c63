import type { User, UserId } from '@relay-chat/protocol';
import { type HttpServer, type Logger, registerCommonRoutes } from '@relay-chat/service-kit';
import { createAccessTokenVerifier } from '@relay-chat/tokens';
import type { JSONWebKeySet } from 'jose';
import { Accounts } from './accounts.js';
import type { AuthConfig } from './config.js';
import { DeviceCookies } from './device-cookies.js';
import { HashScheduler } from './hash-scheduler.js';
import { PasswordHasher, type ScryptParams } from './passwords.js';
import { RefreshTokens } from './refresh-tokens.js';
import { REGISTRATION_WINDOW_MS, RegistrationThrottle } from './registration-throttle.js';
import { type Revocation, RevocationFeed, type RevocationPage } from './revocations.js';
import { internalRoutes } from './routes/internal.js';
import { jwksRoutes } from './routes/jwks.js';
import { sessionRoutes } from './routes/sessions.js';
import { userRoutes } from './routes/users.js';
import { openUserStore } from './store/kysely.js';
import { LoginThrottle, type LoginThrottleOptions } from './throttle.js';
import { AccessTokenIssuer, SigningKeys } from './tokens.js';

/** Every route of the auth service lives under this prefix. */
export const AUTH_PREFIX = '/api/auth';

/** The auth service, ready to be mounted in a Fastify server (standalone or embedded). */
export interface AuthService {
  /** Mounts every /api/auth route (docs, health, ready, metrics included) as an encapsulated plugin. */
  register(app: HttpServer): Promise<void>;
  /** The public keys, for verifying access tokens in the same process. */
  jwks(): JSONWebKeySet;
  readonly issuer: string;
  readonly audience: string;
  /** The users among `ids` that exist (unknown ids left out), ordered by username. */
  findUsersByIds(ids: UserId[]): Promise<User[]>;
  /** Signs an access token for an existing user without a login (tests, embedded tooling); it has no `sid`. */
  issueAccessToken(user: User): Promise<string>;
  /**
   * Calls `listener` with every revocation this process commits from now on (logout, refresh
   * token reuse, account deletion), right after the commit; returns the unsubscribe function.
   * The embedded chat service listens here; separate replicas poll the internal route.
   */
  onRevoked(listener: (revocation: Revocation) => void): () => void;
  /**
   * The revocations with id > `after` in ascending id, at most `limit` (1..1000), still kept
   * (younger than the access-token life plus a margin): what the internal route answers.
   */
  revocationsAfter(after: number, limit: number): Promise<RevocationPage>;
  /** Stops housekeeping and closes the database. */
  close(): Promise<void>;
}

/** Knobs for tests; production uses the defaults. */
export interface AuthServiceOptions {
  /** Clock for refresh-token and throttling decisions, ms since the epoch. Default Date.now. */
  now?: () => number;
  /** Password-hash cost. Default OWASP_SCRYPT_PARAMS. */
  passwordParams?: ScryptParams;
  /** Login-throttling policy (see LoginThrottle). */
  throttle?: Omit<LoginThrottleOptions, 'now'>;
}

// Expired tokens, old failures and stale addresses are deleted this often, per replica.
const HOUSEKEEPING_INTERVAL_MS = 10 * 60_000;
// Revocations are kept this long past the access-token life (clock skew, verifier tolerance).
const REVOCATION_MARGIN_MS = 5 * 60_000;
const KNOWN_ADDRESS_TTL_MS = 90 * 24 * 3600_000;

/** Opens and migrates the database, loads (or creates) the signing key, and wires the service. */
export async function createAuthService(
  config: Readonly<AuthConfig>,
  logger: Logger,
  options: AuthServiceOptions = {},
): Promise<AuthService> {
  const log = logger;
  const now = options.now ?? Date.now;
  const store = openUserStore(config.databaseUrl, { limits: config.databaseLimits });
  try {
    await store.migrate();
  } catch (err) {
    await store.close();
    throw err;
  }
  if (!config.signingKeyPem && !config.databaseUrl.startsWith('sqlite:')) {
    log.warn(
      { file: config.signingKeyFile },
      'AUTH_SIGNING_KEY is not set: using a key from DATA_DIR; replicas that do not share it will reject each other’s tokens',
    );
  }
  const keys = await SigningKeys.create({
    privateKeyPem: config.signingKeyPem,
    keyFile: config.signingKeyFile,
    previousPublicKeyPem: config.previousPublicKeyPem,
  });
  const hasher = new PasswordHasher(options.passwordParams, {
    login: config.passwordHashConcurrency,
    signup: Math.max(1, config.passwordHashConcurrency - 1),
  });
  hasher.prepareDummy();
  const throttle = new LoginThrottle(store, {
    ...options.throttle,
    knownAddressTtlMs: options.throttle?.knownAddressTtlMs ?? KNOWN_ADDRESS_TTL_MS,
    now,
  });
  const accessTokens = new AccessTokenIssuer({
    keys,
    issuer: config.issuer,
    audience: config.audience,
    ttlSec: config.accessTokenTtlSec,
  });
  const revocations = new RevocationFeed(store, log);
  const refreshTokens = new RefreshTokens(store, {
    ttlSec: config.refreshTokenTtlSec,
    graceSec: config.refreshGraceSec,
    now,
    logger: log,
    onRevoked: (revocation) => revocations.publish(revocation),
  });
  const hashing = new HashScheduler({
    concurrency: config.passwordHashConcurrency,
    maxQueued: { login: config.loginHashQueueMax, register: config.registerHashQueueMax },
    maxWaitMs: { register: config.registerHashMaxWaitMs },
  });
  const registrationThrottle = new RegistrationThrottle(store, {
    maxPerAddressPerHour: config.registerPerAddressPerHour,
    maxPerHour: config.registerPerHour,
    now,
  });
  const accounts = new Accounts({
    store,
    hasher,
    hashing,
    throttle,
    registrationThrottle,
    registrationRefusalDelayMs: config.registerRefusalDelayMs,
    deviceCookies: config.deviceCookieKey
      ? DeviceCookies.fromSecret(config.deviceCookieKey)
      : DeviceCookies.fromSigningKey(keys.privateKey),
    accessTokens,
    refreshTokens,
    revocations,
    now,
    logger: log,
  });
  const verifyAccessToken = createAccessTokenVerifier({
    keys: keys.jwks(),
    issuer: config.issuer,
    audience: config.audience,
  });

  const housekeeping = setInterval(() => {
    const at = now();
    store
      .prune({
        now: at,
        failuresBefore: at - throttle.windowMs,
        addressesBefore: at - KNOWN_ADDRESS_TTL_MS,
        registrationsBefore: at - REGISTRATION_WINDOW_MS,
        revocationsBefore: at - config.accessTokenTtlSec * 1000 - REVOCATION_MARGIN_MS,
      })
      .catch((err: unknown) => log.warn({ err }, 'housekeeping failed'));
  }, HOUSEKEEPING_INTERVAL_MS);
  housekeeping.unref();

  return {
    issuer: config.issuer,
    audience: config.audience,
    jwks: () => keys.jwks(),
    findUsersByIds: (ids) => store.findUsersByIds(ids),
    issueAccessToken: (user) => accessTokens.issue(user),
    onRevoked: (listener) => revocations.onRevoked(listener),
    revocationsAfter: (after, limit) => revocations.after(after, limit),

    async register(app: HttpServer): Promise<void> {
      // Hashes still queued or running when the server closes are refused rather than
      // awaited: a shutdown answers what is in flight, it does not wait on scrypt.
      app.addHook('preClose', async () => {
        await hasher.close();
      });
      await app.register(async (scope: HttpServer) => {
        // JSON only: a text/plain body is a 415, not a string that fails validation.
        scope.removeContentTypeParser('text/plain');
        await registerCommonRoutes(scope, {
          prefix: AUTH_PREFIX,
          readiness: { database: () => store.ping() },
          title: 'relay-chat auth',
          description: 'Accounts, sessions (access + refresh tokens) and the user directory.',
        });
        await scope.register(sessionRoutes, {
          prefix: AUTH_PREFIX,
          accounts,
          refreshTokenTtlSec: config.refreshTokenTtlSec,
        });
        await scope.register(userRoutes, { prefix: AUTH_PREFIX, accounts, store, verifyAccessToken });
        await scope.register(jwksRoutes, { prefix: AUTH_PREFIX, publicKeys: () => keys.publicKeys() });
        await scope.register(internalRoutes, { prefix: `${AUTH_PREFIX}/internal`, revocations });
      });
    },

    async close(): Promise<void> {
      clearInterval(housekeeping);
      await hasher.close();
      await store.close();
    },
  };
}
