import { sign as cryptoSign, generateKeyPairSync } from 'node:crypto';
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

describe('createAccessTokenVerifier refuses', () => {
  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const nowSec = () => Math.floor(Date.now() / 1000);
  const goodHeader = { alg: ACCESS_TOKEN_ALG, typ: ACCESS_TOKEN_TYP, kid: 'k1' };
  const goodClaims = () => ({
    iss: 'i',
    aud: 'a',
    sub: 'user-1',
    username: 'ann',
    iat: nowSec() - 5,
    exp: nowSec() + 60,
  });

  /** Signs any header and claims with Ed25519 (jose would refuse to sign some of these). */
  function signRaw(header: object, claims: object, key = privateKey): string {
    const input = `${b64(header)}.${b64(claims)}`;
    return `${input}.${cryptoSign(null, Buffer.from(input), key).toString('base64url')}`;
  }

  /** A fresh verifier each time, so the cache of verified tokens plays no part. */
  const check = (token: string, keys: { keys: object[] } = { keys: [jwk] }) =>
    createAccessTokenVerifier({ keys: keys as never, issuer: 'i', audience: 'a' })(token);
  const refusedAs = async (token: string, code: string, keys?: { keys: object[] }) =>
    expect(check(token, keys)).rejects.toMatchObject({ code });

  it('nothing that is signed right (the baseline of these cases)', async () => {
    expect(await check(signRaw(goodHeader, goodClaims()))).toMatchObject({
      userId: 'user-1',
      username: 'ann',
    });
  });

  it('a tampered signature, payload or header', async () => {
    const token = signRaw(goodHeader, goodClaims());
    const [h, p, s] = token.split('.') as [string, string, string];
    const flipped = `${s.slice(0, 10)}${s[10] === 'A' ? 'B' : 'A'}${s.slice(11)}`;
    await refusedAs(`${h}.${p}.${flipped}`, 'unauthorized');
    await refusedAs(`${h}.${b64({ ...goodClaims(), username: 'mallory' })}.${s}`, 'unauthorized');
    await refusedAs(`${b64({ ...goodHeader, extra: 1 })}.${p}.${s}`, 'unauthorized');
    // A signature of other bytes, or of the right length but zeroes.
    await refusedAs(`${h}.${p}.${Buffer.alloc(64).toString('base64url')}`, 'unauthorized');
    await refusedAs(`${h}.${p}.${s.slice(0, 40)}`, 'unauthorized');
  });

  it('a signature by a key that is not in the set, under a kid that is', async () => {
    const other = generateKeyPairSync('ed25519').privateKey;
    await refusedAs(signRaw(goodHeader, goodClaims(), other), 'unauthorized');
  });

  it('an algorithm other than EdDSA: none, and HS256 keyed with the public key', async () => {
    const claims = goodClaims();
    const signed = signRaw(goodHeader, claims);
    const [, , s] = signed.split('.');
    for (const alg of ['none', 'None', 'NONE']) {
      await refusedAs(`${b64({ ...goodHeader, alg })}.${b64(claims)}.`, 'unauthorized');
      await refusedAs(`${b64({ ...goodHeader, alg })}.${b64(claims)}.${s}`, 'unauthorized');
    }
    await refusedAs(`${b64({ typ: ACCESS_TOKEN_TYP, kid: 'k1' })}.${b64(claims)}.${s}`, 'unauthorized');
    await refusedAs(`${b64(goodHeader)}.${b64(claims)}.`, 'unauthorized');
    const secrets = [
      Buffer.from(publicKey.export({ format: 'pem', type: 'spki' }) as string),
      publicKey.export({ format: 'der', type: 'spki' }),
      Buffer.from(jwk.x as string, 'base64url'),
      Buffer.from(JSON.stringify(jwk)),
    ];
    for (const secret of secrets) {
      const hs = await new SignJWT(claims)
        .setProtectedHeader({ alg: 'HS256', typ: ACCESS_TOKEN_TYP, kid: 'k1' })
        .sign(new Uint8Array(secret));
      await refusedAs(hs, 'unauthorized');
    }
    // Other algorithms, with an EdDSA signature.
    for (const alg of ['ES256', 'RS256', 'PS256', 'Ed25519', 'eddsa']) {
      await refusedAs(signRaw({ ...goodHeader, alg }, claims), 'unauthorized');
    }
  });

  it('an unknown kid, or none when the set has several keys', async () => {
    await refusedAs(signRaw({ ...goodHeader, kid: 'k2' }, goodClaims()), 'unauthorized');
    const second = generateKeyPairSync('ed25519');
    const jwk2 = { ...(await exportJWK(second.publicKey)), kid: 'k2', alg: ACCESS_TOKEN_ALG };
    const both = { keys: [jwk, jwk2] };
    expect(
      await check(signRaw({ ...goodHeader, kid: 'k2' }, goodClaims(), second.privateKey), both),
    ).toMatchObject({ userId: 'user-1' });
    await refusedAs(signRaw({ ...goodHeader, kid: 'k2' }, goodClaims()), 'unauthorized', both);
    const { kid: _, ...noKid } = goodHeader;
    await refusedAs(signRaw(noKid, goodClaims()), 'unauthorized', both);
  });

  it('another typ; accepts the media-type spelling of at+jwt', async () => {
    await refusedAs(signRaw({ ...goodHeader, typ: 'JWT' }, goodClaims()), 'unauthorized');
    const { typ: _, ...noTyp } = goodHeader;
    await refusedAs(signRaw(noTyp, goodClaims()), 'unauthorized');
    expect(await check(signRaw({ ...goodHeader, typ: 'application/AT+JWT' }, goodClaims()))).toMatchObject({
      userId: 'user-1',
    });
  });

  it('an unknown critical header', async () => {
    await refusedAs(signRaw({ ...goodHeader, crit: ['exp'], exp: 1 }, goodClaims()), 'unauthorized');
    await refusedAs(
      signRaw({ ...goodHeader, crit: ['x-thing'], 'x-thing': 1 }, goodClaims()),
      'unauthorized',
    );
  });

  it('an expired token as token_expired, past the 5 s tolerance only', async () => {
    await refusedAs(signRaw(goodHeader, { ...goodClaims(), exp: nowSec() - 7 }), 'token_expired');
    expect(await check(signRaw(goodHeader, { ...goodClaims(), exp: nowSec() - 3 }))).toMatchObject({
      userId: 'user-1',
    });
    // An expired token whose signature is wrong is refused for its signature.
    const expired = signRaw(goodHeader, { ...goodClaims(), exp: nowSec() - 60 });
    await refusedAs(`${expired.slice(0, -4)}AAAA`, 'unauthorized');
  });

  it('a token not yet valid (nbf) past the tolerance', async () => {
    await refusedAs(signRaw(goodHeader, { ...goodClaims(), nbf: nowSec() + 30 }), 'unauthorized');
    expect(await check(signRaw(goodHeader, { ...goodClaims(), nbf: nowSec() + 3 }))).toMatchObject({
      userId: 'user-1',
    });
    await refusedAs(signRaw(goodHeader, { ...goodClaims(), nbf: 'soon' }), 'unauthorized');
  });

  it('a wrong or missing issuer or audience; accepts an audience list that has ours', async () => {
    await refusedAs(signRaw(goodHeader, { ...goodClaims(), iss: 'elsewhere' }), 'unauthorized');
    await refusedAs(signRaw(goodHeader, { ...goodClaims(), iss: undefined }), 'unauthorized');
    await refusedAs(signRaw(goodHeader, { ...goodClaims(), aud: 'b' }), 'unauthorized');
    await refusedAs(signRaw(goodHeader, { ...goodClaims(), aud: ['b', 'c'] }), 'unauthorized');
    await refusedAs(signRaw(goodHeader, { ...goodClaims(), aud: undefined }), 'unauthorized');
    expect(await check(signRaw(goodHeader, { ...goodClaims(), aud: ['b', 'a'] }))).toMatchObject({
      userId: 'user-1',
    });
  });

  it('missing or mistyped claims', async () => {
    for (const claim of ['sub', 'exp', 'iat', 'username'] as const) {
      await refusedAs(signRaw(goodHeader, { ...goodClaims(), [claim]: undefined }), 'unauthorized');
    }
    await refusedAs(signRaw(goodHeader, { ...goodClaims(), exp: String(nowSec() + 60) }), 'unauthorized');
    await refusedAs(signRaw(goodHeader, { ...goodClaims(), sub: 42 }), 'unauthorized');
  });

  it('malformed tokens', async () => {
    const token = signRaw(goodHeader, goodClaims());
    const [h, p, s] = token.split('.') as [string, string, string];
    const malformed = [
      '',
      'x',
      `${h}.${p}`,
      `${h}.${p}.${s}.${s}`,
      `${h}..${s}`,
      `.${p}.${s}`,
      `${h}.${p}.${s}=`,
      `${h}=.${p}.${s}`,
      `${h}.${p.replace(/-/g, '+').replace(/_/g, '/')}+.${s}`,
      `${h}.${p} .${s}`,
      `${h}.${p}.${s.replace(/.$/, '!')}`,
      `${b64('a string')}.${p}.${s}`,
      `${Buffer.from('{"alg":').toString('base64url')}.${p}.${s}`,
      `${h}.${Buffer.from('not json').toString('base64url')}.${s}`,
      `${h}.${b64([1, 2])}.${s}`,
      signRaw(goodHeader, { ...goodClaims(), pad: 'x'.repeat(4096) }),
    ];
    for (const bad of malformed) await refusedAs(bad, 'unauthorized');
    await expect(check(undefined as unknown as string)).rejects.toMatchObject({ code: 'unauthorized' });
  });
});
