import { generateKeyPairSync } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { ConfigError, DEFAULT_DATABASE_LIMITS, DEFAULT_INTERNAL_NETWORKS } from '@relay-chat/service-kit';
import { describe, expect, it } from 'vitest';
import { loadAuthConfig } from './config.js';

const ed25519 = generateKeyPairSync('ed25519');
const privatePem = ed25519.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
const publicPem = ed25519.publicKey.export({ format: 'pem', type: 'spki' }).toString();
const rsaPem = generateKeyPairSync('rsa', { modulusLength: 1024 })
  .privateKey.export({ format: 'pem', type: 'pkcs8' })
  .toString();

describe('loadAuthConfig', () => {
  it('has working defaults for the embedded, standalone service', () => {
    expect(loadAuthConfig({})).toEqual({
      port: 8001,
      host: '127.0.0.1',
      dataDir: './data',
      databaseUrl: 'sqlite:data/auth.db',
      issuer: 'relay-chat',
      audience: 'relay-chat',
      accessTokenTtlSec: 900,
      refreshTokenTtlSec: 30 * 24 * 3600,
      refreshGraceSec: 10,
      signingKeyPem: undefined,
      signingKeyFile: 'data/auth-signing-key.pem',
      previousPublicKeyPem: undefined,
      deviceCookieKey: undefined,
      registerPerAddressPerHour: 20,
      registerPerHour: 1000,
      passwordHashConcurrency: Math.max(1, availableParallelism() - 1),
      loginHashQueueMax: 32 * Math.max(1, availableParallelism() - 1),
      registerHashQueueMax: 4 * Math.max(1, availableParallelism() - 1),
      registerHashMaxWaitMs: 2000,
      registerRefusalDelayMs: 1000,
      logLevel: 'info',
      trustProxy: undefined,
      databaseLimits: DEFAULT_DATABASE_LIMITS,
      internalNetworks: [...DEFAULT_INTERNAL_NETWORKS],
    });
  });

  it('reads every variable', () => {
    const config = loadAuthConfig({
      PORT: '9000',
      HOST: '0.0.0.0',
      DATA_DIR: '/var/lib/auth',
      DATABASE_URL: 'postgres://auth@db:5432/auth',
      JWT_ISSUER: 'https://chat.example',
      JWT_AUDIENCE: 'chat',
      ACCESS_TOKEN_TTL_SEC: '300',
      REFRESH_TOKEN_TTL_SEC: '86400',
      REFRESH_GRACE_SEC: '5',
      AUTH_SIGNING_KEY: privatePem,
      AUTH_PREVIOUS_PUBLIC_KEY: publicPem,
      AUTH_DEVICE_COOKIE_KEY: 'k'.repeat(32),
      REGISTER_PER_ADDRESS_PER_HOUR: '5',
      REGISTER_PER_HOUR: '200',
      PASSWORD_HASH_CONCURRENCY: '3',
      LOGIN_HASH_QUEUE_MAX: '40',
      REGISTER_HASH_QUEUE_MAX: '6',
      LOG_LEVEL: 'warn',
      TRUST_PROXY: '10.0.0.0/8, 172.16.0.1',
    });
    expect(config).toMatchObject({
      port: 9000,
      host: '0.0.0.0',
      databaseUrl: 'postgres://auth@db:5432/auth',
      issuer: 'https://chat.example',
      audience: 'chat',
      accessTokenTtlSec: 300,
      refreshTokenTtlSec: 86400,
      refreshGraceSec: 5,
      signingKeyPem: privatePem,
      previousPublicKeyPem: publicPem,
      signingKeyFile: '/var/lib/auth/auth-signing-key.pem',
      deviceCookieKey: 'k'.repeat(32),
      registerPerAddressPerHour: 5,
      registerPerHour: 200,
      passwordHashConcurrency: 3,
      loginHashQueueMax: 40,
      registerHashQueueMax: 6,
      logLevel: 'warn',
      trustProxy: ['10.0.0.0/8', '172.16.0.1'],
    });
  });

  it('sizes the hashing queues from PASSWORD_HASH_CONCURRENCY by default', () => {
    expect(loadAuthConfig({ PASSWORD_HASH_CONCURRENCY: '2' })).toMatchObject({
      passwordHashConcurrency: 2,
      loginHashQueueMax: 64,
      registerHashQueueMax: 8,
    });
  });

  it('derives the default database from DATA_DIR', () => {
    expect(loadAuthConfig({ DATA_DIR: '/tmp/x' }).databaseUrl).toBe('sqlite:/tmp/x/auth.db');
  });

  it('accepts a PEM written on one line with \\n escapes', () => {
    const oneLine = privatePem.trim().replace(/\n/g, '\\n');
    expect(loadAuthConfig({ AUTH_SIGNING_KEY: oneLine }).signingKeyPem).toBe(privatePem);
  });

  it('reads TRUST_PROXY as a boolean too', () => {
    expect(loadAuthConfig({ TRUST_PROXY: 'true' }).trustProxy).toBe(true);
    expect(loadAuthConfig({ TRUST_PROXY: 'off' }).trustProxy).toBe(false);
  });

  it('is frozen', () => {
    const config = loadAuthConfig({});
    expect(Object.isFrozen(config)).toBe(true);
    expect(() => {
      (config as { port: number }).port = 1;
    }).toThrow(TypeError);
  });

  it.each([
    ['PORT', 'eighty'],
    ['PORT', '70000'],
    ['DATABASE_URL', 'mysql://db/auth'],
    ['DATABASE_URL', 'not a url'],
    ['ACCESS_TOKEN_TTL_SEC', '0'],
    ['ACCESS_TOKEN_TTL_SEC', '15m'],
    ['REFRESH_TOKEN_TTL_SEC', '-1'],
    ['REFRESH_GRACE_SEC', '3600'],
    ['AUTH_SIGNING_KEY', 'not a key'],
    ['AUTH_SIGNING_KEY', rsaPem],
    ['AUTH_SIGNING_KEY', publicPem],
    ['AUTH_PREVIOUS_PUBLIC_KEY', privatePem],
    ['AUTH_PREVIOUS_PUBLIC_KEY', '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----'],
    ['AUTH_DEVICE_COOKIE_KEY', 'too short'],
    ['REGISTER_PER_ADDRESS_PER_HOUR', '0'],
    ['REGISTER_PER_HOUR', 'many'],
    ['PASSWORD_HASH_CONCURRENCY', '0'],
    ['LOGIN_HASH_QUEUE_MAX', '-1'],
    ['LOG_LEVEL', 'verbose'],
    ['TRUST_PROXY', 'the-load-balancer'],
  ])('refuses %s=%j and names the variable', (variable, value) => {
    let error: unknown;
    try {
      loadAuthConfig({ [variable]: value });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe(variable);
    expect((error as ConfigError).message).toMatch(new RegExp(`^${variable}: `));
    // A bad key is never echoed back into logs.
    if (variable.startsWith('AUTH_')) expect((error as ConfigError).message).not.toContain('BEGIN');
  });
});
