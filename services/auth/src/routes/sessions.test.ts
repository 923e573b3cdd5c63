import { asUserId } from '@relay-chat/protocol';
import { createAccessTokenVerifier } from '@relay-chat/tokens';
import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PasswordHasher, paramsOf } from '../passwords.js';
import { BACKENDS, type Harness, startAuth, TEST_PASSWORD_PARAMS } from '../testing/harness.js';

const PASSWORD = 'correct horse battery staple';

async function metricValue(h: Harness, series: string): Promise<number> {
  const text = (await h.app.inject({ method: 'GET', url: '/api/auth/metrics' })).body;
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

describe.each(BACKENDS)('sessions on $name', (backend) => {
  describe.skipIf(!backend.available)('register and login, at the production password cost', () => {
    let h: Harness;
    let aliceId: string;

    const post = (url: string, payload: object, remoteAddress = '10.1.0.1') =>
      h.app.inject({ method: 'POST', url: `/api/auth/${url}`, payload, remoteAddress });
    const login = (username = 'alice', password = PASSWORD, remoteAddress = '10.1.0.1') =>
      post('login', { username, password }, remoteAddress);

    beforeAll(async () => {
      h = await startAuth(backend, { productionHashing: true });
    });
    afterAll(async () => {
      await h?.close();
    });

    it('registers a user with a lower-cased username', async () => {
      const res = await post('register', { username: 'Alice', password: PASSWORD });
      expect(res.statusCode).toBe(201);
      const { user } = res.json();
      expect(user).toEqual({ id: expect.any(String), username: 'alice' });
      aliceId = user.id;
    });

    it('stores the password as a scrypt hash at the OWASP parameters', async () => {
      const record = await h.store.findUserByUsername('alice');
      expect(record?.passwordHash).not.toContain(PASSWORD);
      expect(paramsOf(record!.passwordHash)).toEqual({ N: 2 ** 17, r: 8, p: 1 });
    });

    it('refuses a taken username in any case with username_taken', async () => {
      const res = await post('register', { username: 'ALICE', password: 'another password' });
      expect(res.statusCode).toBe(409);
      expect(res.json().error.code).toBe('username_taken');
    });

    it('logs in with any case of the username and returns a verifiable token pair', async () => {
      const res = await login('aLiCe');
      expect(res.statusCode).toBe(200);
      expect(res.headers['cache-control']).toBe('no-store');
      const pair = res.json();
      expect(pair).toEqual({
        accessToken: expect.any(String),
        refreshToken: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
        expiresIn: 900,
        user: { id: aliceId, username: 'alice' },
      });
      const header = decodeProtectedHeader(pair.accessToken);
      expect(header).toMatchObject({ alg: 'EdDSA', typ: 'at+jwt', kid: h.service.jwks().keys[0]?.kid });
      const jwks = (await h.app.inject({ method: 'GET', url: '/api/auth/jwks.json' })).json();
      const verify = createAccessTokenVerifier({ keys: jwks, issuer: 'relay-chat', audience: 'relay-chat' });
      const claims = await verify(pair.accessToken);
      expect(claims).toMatchObject({ userId: aliceId, username: 'alice' });
      expect(claims.exp - Math.floor(Date.now() / 1000)).toBeGreaterThan(890);

      const me = await h.app.inject({
        method: 'GET',
        url: '/api/auth/me',
        headers: { authorization: `Bearer ${pair.accessToken}` },
      });
      expect(me.json()).toEqual({ user: { id: aliceId, username: 'alice' } });
    });

    it('answers a wrong password and an unknown user identically, after one hash each', async () => {
      const verifications = () => metricValue(h, 'auth_password_hash_seconds_count{op="verify"}');
      const before = await verifications();
      const wrong = await login('alice', 'not the password', '10.1.0.9');
      const afterWrong = await verifications();
      const unknown = await login('nobody-here', 'not the password', '10.1.0.9');
      expect(afterWrong - before).toBe(1);
      expect((await verifications()) - afterWrong).toBe(1);
      expect(wrong.statusCode).toBe(401);
      expect(unknown.statusCode).toBe(401);
      expect(wrong.json()).toEqual({
        error: { code: 'invalid_credentials', message: 'Wrong username or password.' },
      });
      expect(unknown.body).toBe(wrong.body);
      expect(unknown.headers['content-type']).toBe(wrong.headers['content-type']);
    });
  });

  describe.skipIf(!backend.available)('refresh and logout', () => {
    let h: Harness;
    let aliceId: string;

    const post = (url: string, payload: object, remoteAddress = '10.1.0.1') =>
      h.app.inject({ method: 'POST', url: `/api/auth/${url}`, payload, remoteAddress });
    const login = () => post('login', { username: 'alice', password: PASSWORD });

    beforeAll(async () => {
      h = await startAuth(backend, { env: { REFRESH_TOKEN_TTL_SEC: '3600', REFRESH_GRACE_SEC: '10' } });
      aliceId = (await post('register', { username: 'alice', password: PASSWORD })).json().user.id;
    });
    afterAll(async () => {
      await h?.close();
    });

    it('rotates the refresh token on every use', async () => {
      const first = (await login()).json();
      const res = await post('refresh', { refreshToken: first.refreshToken });
      expect(res.statusCode).toBe(200);
      const second = res.json();
      expect(second.refreshToken).not.toBe(first.refreshToken);
      expect(second.user).toEqual({ id: aliceId, username: 'alice' });
      const third = await post('refresh', { refreshToken: second.refreshToken });
      expect(third.statusCode).toBe(200);
    });

    it('gives two tabs refreshing the same token at once each a working pair (grace window)', async () => {
      const { refreshToken } = (await login()).json();
      const [tabA, tabB] = await Promise.all([
        post('refresh', { refreshToken }),
        post('refresh', { refreshToken }),
      ]);
      expect(tabA.statusCode).toBe(200);
      expect(tabB.statusCode).toBe(200);
      const a = tabA.json().refreshToken;
      const b = tabB.json().refreshToken;
      expect(a).not.toBe(b);
      // Both successors keep working: nobody was logged out.
      expect((await post('refresh', { refreshToken: a })).statusCode).toBe(200);
      expect((await post('refresh', { refreshToken: b })).statusCode).toBe(200);
    });

    it('honours the grace window for 10 s after the spend, and treats reuse after it as theft', async () => {
      const { refreshToken } = (await login()).json();
      const first = (await post('refresh', { refreshToken })).json();
      h.clock.advance(9_000);
      const late = await post('refresh', { refreshToken });
      expect(late.statusCode).toBe(200);
      h.clock.advance(2_000);
      expect((await post('refresh', { refreshToken })).statusCode).toBe(401);
      // Every token of the family is now dead, including both successors.
      expect((await post('refresh', { refreshToken: first.refreshToken })).statusCode).toBe(401);
      expect((await post('refresh', { refreshToken: late.json().refreshToken })).statusCode).toBe(401);
    });

    it('revokes the whole family when a spent token is reused after the grace window', async () => {
      const { refreshToken: stolen } = (await login()).json();
      const rotated = (await post('refresh', { refreshToken: stolen })).json();
      h.clock.advance(11_000);
      const reuse = await post('refresh', { refreshToken: stolen });
      expect(reuse.statusCode).toBe(401);
      expect(reuse.json().error.code).toBe('invalid_refresh_token');
      // The legitimate successor is revoked with its family.
      const successor = await post('refresh', { refreshToken: rotated.refreshToken });
      expect(successor.statusCode).toBe(401);
      expect(successor.json().error.code).toBe('invalid_refresh_token');
      // Other sessions (families) of the same user are untouched.
      const other = (await login()).json();
      expect((await post('refresh', { refreshToken: other.refreshToken })).statusCode).toBe(200);
    });

    it('refuses an unknown refresh token', async () => {
      const res = await post('refresh', { refreshToken: 'A'.repeat(43) });
      expect(res.statusCode).toBe(401);
      expect(res.json().error.code).toBe('invalid_refresh_token');
    });

    it('refuses an expired refresh token', async () => {
      const { refreshToken } = (await login()).json();
      h.clock.advance(3601_000);
      const res = await post('refresh', { refreshToken });
      expect(res.statusCode).toBe(401);
      expect(res.json().error.code).toBe('invalid_refresh_token');
    });

    it('logs out: 204, and the refresh token no longer works', async () => {
      const { refreshToken } = (await login()).json();
      const res = await post('logout', { refreshToken });
      expect(res.statusCode).toBe(204);
      expect(res.body).toBe('');
      expect((await post('refresh', { refreshToken })).statusCode).toBe(401);
      // Again, and with a token that never existed: the same 204 (no oracle).
      expect((await post('logout', { refreshToken })).statusCode).toBe(204);
      expect((await post('logout', { refreshToken: 'B'.repeat(43) })).statusCode).toBe(204);
    });

    it('logout ends the rotated session too', async () => {
      const first = (await login()).json();
      const second = (await post('refresh', { refreshToken: first.refreshToken })).json();
      expect((await post('logout', { refreshToken: second.refreshToken })).statusCode).toBe(204);
      expect((await post('refresh', { refreshToken: second.refreshToken })).statusCode).toBe(401);
    });
  });

  describe.skipIf(!backend.available)('client address behind a proxy', () => {
    let h: Harness;
    const login = (password: string, remoteAddress: string, forwardedFor: string) =>
      h.app.inject({
        method: 'POST',
        url: '/api/auth/login',
        payload: { username: 'carol', password },
        remoteAddress,
        headers: { 'x-forwarded-for': forwardedFor },
      });

    beforeAll(async () => {
      h = await startAuth(backend, { env: { TRUST_PROXY: '127.0.0.1' } });
      const res = await h.app.inject({
        method: 'POST',
        url: '/api/auth/register',
        payload: { username: 'carol', password: PASSWORD },
        remoteAddress: '127.0.0.1',
        headers: { 'x-forwarded-for': '198.51.100.5' },
      });
      expect(res.statusCode).toBe(201);
    });
    afterAll(async () => {
      await h?.close();
    });

    it('ignores X-Forwarded-For from an untrusted peer, so rotating it does not evade throttling', async () => {
      for (let i = 0; i < 5; i++) {
        expect((await login(`wrong ${i}`, '203.0.113.9', `192.0.2.${i}`)).statusCode).toBe(401);
      }
      expect((await login(PASSWORD, '203.0.113.9', '192.0.2.200')).statusCode).toBe(429);
    });

    it('believes X-Forwarded-For from the trusted proxy: the owner logs in from their known address', async () => {
      expect((await login(PASSWORD, '127.0.0.1', '198.51.100.5')).statusCode).toBe(200);
      // Through the proxy, a new client address is subject to the account's bound.
      expect((await login(PASSWORD, '127.0.0.1', '192.0.2.77')).statusCode).toBe(429);
    });
  });

  describe.skipIf(!backend.available)('password upgrade', () => {
    it('re-hashes a password stored at weaker parameters on the next login', async () => {
      const h = await startAuth(backend);
      try {
        const weaker = await new PasswordHasher({ N: 2 ** 9, r: 8, p: 1 }).hash(PASSWORD);
        await h.store.createUser({
          id: asUserId('legacy-user'),
          username: 'legacy',
          passwordHash: weaker,
          createdAt: 0,
        });
        const res = await h.app.inject({
          method: 'POST',
          url: '/api/auth/login',
          payload: { username: 'legacy', password: PASSWORD },
        });
        expect(res.statusCode).toBe(200);
        const stored = (await h.store.findUserByUsername('legacy'))!.passwordHash;
        expect(paramsOf(stored)).toEqual(TEST_PASSWORD_PARAMS);
        expect(await new PasswordHasher(TEST_PASSWORD_PARAMS).verify(PASSWORD, stored)).toBe(true);
      } finally {
        await h.close();
      }
    });
  });

  describe.skipIf(!backend.available)('login throttling', () => {
    let h: Harness;
    const attacker = '203.0.113.7';
    const home = '198.51.100.20';

    const login = (username: string, password: string, remoteAddress: string) =>
      h.app.inject({
        method: 'POST',
        url: '/api/auth/login',
        payload: { username, password },
        remoteAddress,
      });

    beforeAll(async () => {
      h = await startAuth(backend);
      const res = await h.app.inject({
        method: 'POST',
        url: '/api/auth/register',
        payload: { username: 'bob', password: PASSWORD },
        remoteAddress: home,
      });
      expect(res.statusCode).toBe(201);
    });
    afterAll(async () => {
      await h?.close();
    });

    it('answers 429 rate_limited with Retry-After after 5 failures, even for the right password', async () => {
      for (let i = 0; i < 5; i++) {
        expect((await login('bob', `wrong guess ${i}`, attacker)).statusCode).toBe(401);
      }
      const throttled = await login('bob', PASSWORD, attacker);
      expect(throttled.statusCode).toBe(429);
      expect(throttled.json().error.code).toBe('rate_limited');
      const retryAfter = Number(throttled.headers['retry-after']);
      expect(retryAfter).toBeGreaterThan(0);
      expect(retryAfter).toBeLessThanOrEqual(15 * 60);
    });

    it('still lets the owner log in from their own address', async () => {
      const res = await login('bob', PASSWORD, home);
      expect(res.statusCode).toBe(200);
      expect(res.json().user.username).toBe('bob');
    });

    it('throttles an unknown username the same way (no enumeration through 429)', async () => {
      for (let i = 0; i < 5; i++) {
        expect((await login('ghost', `wrong guess ${i}`, attacker)).statusCode).toBe(401);
      }
      expect((await login('ghost', PASSWORD, attacker)).statusCode).toBe(429);
    });

    it('lets the attacker address try again once the window has passed', async () => {
      h.clock.advance(15 * 60_000 + 1000);
      expect((await login('bob', PASSWORD, attacker)).statusCode).toBe(200);
    });
  });
});
