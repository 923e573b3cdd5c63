import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asUserId } from '@relay-chat/protocol';
import { createAccessTokenVerifier } from '@relay-chat/tokens';
import {
  calculateJwkThumbprint,
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  type JWTVerifyGetKey,
} from 'jose';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { AccessTokenIssuer, hashRefreshToken, newRefreshToken, SigningKeys } from './tokens.js';

const dir = mkdtempSync(join(tmpdir(), 'auth-keys-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('SigningKeys', () => {
  it('generates a key at first start, keeps it private to the owner, and reuses it afterwards', async () => {
    const keyFile = join(dir, 'nested', 'auth-signing-key.pem');
    const first = await SigningKeys.create({ keyFile });
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const second = await SigningKeys.create({ keyFile });
    expect(second.current.kid).toBe(first.current.kid);
    expect(second.jwks()).toEqual(first.jwks());
  });

  it('uses a configured key, with its RFC 7638 thumbprint as kid', async () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    const keys = await SigningKeys.create({
      privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
      keyFile: join(dir, 'unused.pem'),
    });
    const x = createPublicKey(privateKey).export({ format: 'jwk' }).x as string;
    expect(keys.current).toEqual({
      kty: 'OKP',
      crv: 'Ed25519',
      x,
      kid: await calculateJwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x }),
      alg: 'EdDSA',
      use: 'sig',
    });
    expect(keys.jwks().keys).toHaveLength(1);
    expect(JSON.stringify(keys.jwks())).not.toMatch(/"d"/);
  });

  it('publishes the previous public key during a rotation, once', async () => {
    const current = generateKeyPairSync('ed25519').privateKey;
    const previous = generateKeyPairSync('ed25519').publicKey;
    const privateKeyPem = current.export({ format: 'pem', type: 'pkcs8' }).toString();
    const keys = await SigningKeys.create({
      privateKeyPem,
      keyFile: join(dir, 'unused.pem'),
      previousPublicKeyPem: previous.export({ format: 'pem', type: 'spki' }).toString(),
    });
    expect(keys.jwks().keys.map((k) => k.x)).toEqual([
      createPublicKey(current).export({ format: 'jwk' }).x,
      previous.export({ format: 'jwk' }).x,
    ]);
    const same = await SigningKeys.create({
      privateKeyPem,
      keyFile: join(dir, 'unused.pem'),
      previousPublicKeyPem: createPublicKey(current).export({ format: 'pem', type: 'spki' }).toString(),
    });
    expect(same.jwks().keys).toHaveLength(1);
  });
});

describe('AccessTokenIssuer', () => {
  it('signs EdDSA at+jwt tokens with exactly the claims the shared verifier requires', async () => {
    const keys = await SigningKeys.create({ keyFile: join(dir, 'issuer.pem') });
    const issuer = new AccessTokenIssuer({ keys, issuer: 'iss-x', audience: 'aud-y', ttlSec: 900 });
    const nowMs = Date.now();
    const token = await issuer.issue({ id: asUserId('user-1'), username: 'alice' }, nowMs);
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'EdDSA', typ: 'at+jwt', kid: keys.current.kid });
    const iat = Math.floor(nowMs / 1000);
    expect(decodeJwt(token)).toEqual({
      iss: 'iss-x',
      aud: 'aud-y',
      sub: 'user-1',
      username: 'alice',
      iat,
      exp: iat + 900,
    });
    const verify = createAccessTokenVerifier({ keys: keys.jwks(), issuer: 'iss-x', audience: 'aud-y' });
    expect(await verify(token)).toEqual({ userId: 'user-1', username: 'alice', iat, exp: iat + 900 });
  });

  it('adds the session id as `sid` when given, and the verifier returns it', async () => {
    const keys = await SigningKeys.create({ keyFile: join(dir, 'issuer.pem') });
    const issuer = new AccessTokenIssuer({ keys, issuer: 'iss-x', audience: 'aud-y', ttlSec: 900 });
    const nowMs = Date.now();
    const token = await issuer.issue({ id: asUserId('user-1'), username: 'alice' }, nowMs, 'family-1');
    expect(decodeJwt(token).sid).toBe('family-1');
    const verify = createAccessTokenVerifier({ keys: keys.jwks(), issuer: 'iss-x', audience: 'aud-y' });
    expect(await verify(token)).toMatchObject({ userId: 'user-1', sid: 'family-1' });
  });
});

describe('the shared verifier', () => {
  async function setUp(cacheSize?: number) {
    const keys = await SigningKeys.create({ keyFile: join(dir, 'cache.pem') });
    const issuer = new AccessTokenIssuer({ keys, issuer: 'i', audience: 'a', ttlSec: 60 });
    const local = createLocalJWKSet(keys.jwks());
    let keyLookups = 0;
    const getKey: JWTVerifyGetKey = (header, token) => {
      keyLookups++;
      return local(header, token);
    };
    const verify = createAccessTokenVerifier({
      keys: getKey,
      issuer: 'i',
      audience: 'a',
      ...(cacheSize === undefined ? {} : { cacheSize }),
    });
    return { issuer, verify, lookups: () => keyLookups };
  }

  it('checks a token presented again without verifying its signature again, until it expires', async () => {
    const { issuer, verify, lookups } = await setUp();
    const nowMs = Date.now();
    const token = await issuer.issue({ id: asUserId('user-2'), username: 'bob' }, nowMs);
    const claims = await verify(token);
    expect(await verify(token)).toEqual(claims);
    expect(lookups()).toBe(1);
    // A different string is verified on its own (and a forged one fails).
    const forged = `${token.slice(0, -2)}${token.endsWith('AA') ? 'BB' : 'AA'}`;
    await expect(verify(forged)).rejects.toMatchObject({ code: 'unauthorized' });
    try {
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(claims.exp * 1000 + 1);
      await expect(verify(token)).rejects.toMatchObject({ code: 'token_expired' });
    } finally {
      vi.useRealTimers();
    }
  });

  it('verifies every time with cacheSize 0', async () => {
    const { issuer, verify, lookups } = await setUp(0);
    const token = await issuer.issue({ id: asUserId('user-3'), username: 'carol' }, Date.now());
    await verify(token);
    await verify(token);
    expect(lookups()).toBe(2);
  });
});

describe('refresh tokens', () => {
  it('are 256 random bits in base64url, different every time', () => {
    const tokens = new Set(Array.from({ length: 100 }, () => newRefreshToken()));
    expect(tokens.size).toBe(100);
    for (const token of tokens) {
      expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(Buffer.from(token, 'base64url')).toHaveLength(32);
    }
  });

  it('are stored as their SHA-256', () => {
    const token = newRefreshToken();
    expect(hashRefreshToken(token)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashRefreshToken(token)).toBe(hashRefreshToken(token));
    expect(hashRefreshToken(token)).not.toContain(token);
  });
});
