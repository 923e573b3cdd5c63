import { generateKeyPairSync } from 'node:crypto';
import { exportJWK, type JWTPayload, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { ACCESS_TOKEN_ALG, ACCESS_TOKEN_TYP, createAccessTokenVerifier } from './index.js';

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: ACCESS_TOKEN_ALG };
const verify = createAccessTokenVerifier({ keys: { keys: [jwk] }, issuer: 'i', audience: 'a' });

function sign(claims: JWTPayload, options: { iat?: boolean } = {}): Promise<string> {
  const nowSec = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: ACCESS_TOKEN_ALG, typ: ACCESS_TOKEN_TYP, kid: 'k1' })
    .setIssuer('i')
    .setAudience('a')
    .setSubject('user-1')
    .setExpirationTime(nowSec + 60);
  if (options.iat ?? true) jwt.setIssuedAt(nowSec - 5);
  return jwt.sign(privateKey);
}

describe('createAccessTokenVerifier', () => {
  it('returns iat (seconds) and the session id `sid` when the token has one', async () => {
    const nowSec = Math.floor(Date.now() / 1000);
    const claims = await verify(await sign({ username: 'ann', sid: 'family-1' }));
    expect(claims).toEqual({
      userId: 'user-1',
      username: 'ann',
      iat: nowSec - 5,
      exp: nowSec + 60,
      sid: 'family-1',
    });
  });

  it('accepts a token without sid (issued outside a login, or before the claim existed)', async () => {
    const claims = await verify(await sign({ username: 'ann' }));
    expect(claims.sid).toBeUndefined();
    expect('sid' in claims).toBe(false);
  });

  it('refuses a token whose sid is not a string, or without iat', async () => {
    await expect(verify(await sign({ username: 'ann', sid: 42 }))).rejects.toMatchObject({
      code: 'unauthorized',
    });
    await expect(verify(await sign({ username: 'ann' }, { iat: false }))).rejects.toMatchObject({
      code: 'unauthorized',
    });
  });
});
