import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, type Harness, startAuth } from '../testing/harness.js';
import { readCookie } from './cookies.js';

const PASSWORD = 'correct horse battery staple';

interface Answer {
  statusCode: number;
  headers: Record<string, unknown>;
  json(): Record<string, unknown> & { error?: { code: string } };
}

/** The `Set-Cookie` line for `name` in an answer, if any. */
function setCookieLine(res: Answer, name: string): string | undefined {
  return [res.headers['set-cookie'] ?? []]
    .flat()
    .map(String)
    .find((line) => line.startsWith(`${name}=`));
}

/** The value a browser would store from the answer's `relay_refresh` cookie. */
function refreshCookieOf(res: Answer): string {
  const line = setCookieLine(res, 'relay_refresh');
  if (!line) throw new Error('no refresh cookie set');
  return readCookie(line.split(';')[0], 'relay_refresh')!;
}

describe.each(BACKENDS)('refresh tokens in a cookie on $name', (backend) => {
  describe.skipIf(!backend.available)('cookie mode', () => {
    let h: Harness;

    const post = (url: string, payload: object, cookie?: string) =>
      h.app.inject({
        method: 'POST',
        url: `/api/auth/${url}`,
        payload,
        headers: cookie === undefined ? {} : { cookie: `relay_refresh=${cookie}` },
      });
    const cookieLogin = () => post('login', { username: 'kim', password: PASSWORD, session: 'cookie' });
    const cookieRefresh = (cookie?: string) => post('refresh', { session: 'cookie' }, cookie);

    beforeAll(async () => {
      h = await startAuth(backend, { env: { REFRESH_TOKEN_TTL_SEC: '3600', REFRESH_GRACE_SEC: '10' } });
      expect((await post('register', { username: 'kim', password: PASSWORD })).statusCode).toBe(201);
    });
    afterAll(async () => {
      await h?.close();
    });

    it('logs in without a refresh token in the answer, setting it as an HttpOnly cookie for the refresh route', async () => {
      const res = await cookieLogin();
      expect(res.statusCode).toBe(200);
      const body = res.json();
      expect(Object.keys(body).sort()).toEqual(['accessToken', 'expiresIn', 'user']);
      const attributes = setCookieLine(res, 'relay_refresh')!.split('; ');
      expect(attributes).toEqual(
        expect.arrayContaining([
          'Path=/api/auth/refresh',
          'Max-Age=3600',
          'HttpOnly',
          'SameSite=Strict',
          'Secure',
        ]),
      );
      expect(refreshCookieOf(res)).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(res.headers['cache-control']).toBe('no-store');
    });

    it('keeps body mode unchanged for clients that do not ask for the cookie', async () => {
      const res = await post('login', { username: 'kim', password: PASSWORD });
      expect(res.json().refreshToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(setCookieLine(res, 'relay_refresh')).toBeUndefined();
      const refreshed = await post('refresh', { refreshToken: res.json().refreshToken as string });
      expect(refreshed.statusCode).toBe(200);
      expect(refreshed.json().refreshToken).toEqual(expect.any(String));
      expect(setCookieLine(refreshed, 'relay_refresh')).toBeUndefined();
    });

    it('refreshes through the cookie, rotating it, in the same session', async () => {
      const login = await cookieLogin();
      const first = refreshCookieOf(login);
      const res = await cookieRefresh(first);
      expect(res.statusCode).toBe(200);
      expect(res.json().refreshToken).toBeUndefined();
      expect(res.json().user).toMatchObject({ username: 'kim' });
      const second = refreshCookieOf(res);
      expect(second).not.toBe(first);
      expect(decodeJwt(res.json().accessToken as string).sid).toBe(
        decodeJwt(login.json().accessToken as string).sid,
      );
      expect((await cookieRefresh(second)).statusCode).toBe(200);
    });

    it('lets two tabs refresh with the same cookie at once (grace window), and treats a later reuse as theft', async () => {
      const cookie = refreshCookieOf(await cookieLogin());
      const [a, b] = await Promise.all([cookieRefresh(cookie), cookieRefresh(cookie)]);
      expect([a.statusCode, b.statusCode]).toEqual([200, 200]);
      h.clock.advance(11_000);
      const reuse = await cookieRefresh(cookie);
      expect(reuse.statusCode).toBe(401);
      expect(reuse.json().error?.code).toBe('invalid_refresh_token');
      // The refused cookie is cleared, and the whole family is gone.
      expect(setCookieLine(reuse, 'relay_refresh')).toMatch(
        /^relay_refresh=; Path=\/api\/auth\/refresh; Max-Age=0;/,
      );
      expect((await cookieRefresh(refreshCookieOf(a))).statusCode).toBe(401);
    });

    it('answers 401 invalid_refresh_token without a cookie', async () => {
      const res = await cookieRefresh();
      expect(res.statusCode).toBe(401);
      expect(res.json().error?.code).toBe('invalid_refresh_token');
    });

    it('refuses a cookie-mode refresh that is not JSON (CSRF), without spending the cookie', async () => {
      const cookie = refreshCookieOf(await cookieLogin());
      for (const contentType of [
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
      ]) {
        const res = await h.app.inject({
          method: 'POST',
          url: '/api/auth/refresh',
          payload: 'session=cookie',
          headers: { 'content-type': contentType, cookie: `relay_refresh=${cookie}` },
        });
        expect(res.statusCode).toBe(415);
        expect(res.json().error.code).toBe('unsupported_media_type');
      }
      const empty = await h.app.inject({
        method: 'POST',
        url: '/api/auth/refresh',
        headers: { cookie: `relay_refresh=${cookie}` },
      });
      expect(empty.statusCode).toBe(400);
      // Still unspent: its first use rotates it (no grace needed).
      expect((await cookieRefresh(cookie)).statusCode).toBe(200);
    });

    it('still refuses an empty JSON body: a refresh token or session "cookie" is required', async () => {
      const res = await post('refresh', {});
      expect(res.statusCode).toBe(400);
      expect(res.json().error?.code).toBe('validation_failed');
    });

    it('moves a body-mode session into the cookie', async () => {
      const { refreshToken } = (await post('login', { username: 'kim', password: PASSWORD })).json();
      const moved = await post('refresh', { refreshToken: refreshToken as string, session: 'cookie' });
      expect(moved.statusCode).toBe(200);
      expect(moved.json().refreshToken).toBeUndefined();
      expect((await cookieRefresh(refreshCookieOf(moved))).statusCode).toBe(200);
    });

    it('logs a cookie-mode session out with DELETE /refresh: the session is revoked and the cookie cleared', async () => {
      const login = await cookieLogin();
      const cookie = refreshCookieOf(login);
      const last = (await h.service.revocationsAfter(0, 1000)).last;
      const res = await h.app.inject({
        method: 'DELETE',
        url: '/api/auth/refresh',
        headers: { cookie: `relay_refresh=${cookie}` },
      });
      expect(res.statusCode).toBe(204);
      expect(setCookieLine(res, 'relay_refresh')).toMatch(
        /^relay_refresh=; Path=\/api\/auth\/refresh; Max-Age=0;/,
      );
      expect((await cookieRefresh(cookie)).statusCode).toBe(401);
      const { revocations } = await h.service.revocationsAfter(last, 10);
      expect(revocations.map((r) => r.sid)).toEqual([decodeJwt(login.json().accessToken as string).sid]);
      // Without a cookie: 204 all the same.
      expect((await h.app.inject({ method: 'DELETE', url: '/api/auth/refresh' })).statusCode).toBe(204);
    });
  });
});
