import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Revocation } from '../revocations.js';
import { BACKENDS, bearer, type Harness, startAuth } from '../testing/harness.js';

const PASSWORD = 'correct horse battery staple';

describe.each(BACKENDS)('revocations on $name', (backend) => {
  describe.skipIf(!backend.available)('sessions and accounts', () => {
    let h: Harness;
    const heard: Revocation[] = [];
    let stopListening: () => void;

    const post = (url: string, payload: object, remoteAddress = '10.4.0.1') =>
      h.app.inject({ method: 'POST', url: `/api/auth/${url}`, payload, remoteAddress });
    const login = async (username: string) => {
      const res = await post('login', { username, password: PASSWORD });
      expect(res.statusCode).toBe(200);
      return res.json() as { accessToken: string; refreshToken: string; user: { id: string } };
    };
    const internal = async (query = '') => {
      const res = await h.app.inject({ method: 'GET', url: `/api/auth/internal/revocations${query}` });
      expect(res.statusCode).toBe(200);
      return res.json() as { revocations: Revocation[]; last: number };
    };
    const deleteMe = (accessToken: string, password: string, remoteAddress = '10.4.0.1') =>
      h.app.inject({
        method: 'DELETE',
        url: '/api/auth/me',
        headers: bearer(accessToken),
        payload: { password },
        remoteAddress,
      });

    beforeAll(async () => {
      h = await startAuth(backend, { env: { REFRESH_GRACE_SEC: '10' } });
      for (const username of ['fay', 'gus', 'hal', 'ivy', 'jay']) {
        expect((await post('register', { username, password: PASSWORD })).statusCode).toBe(201);
      }
      stopListening = h.service.onRevoked((revocation) => heard.push(revocation));
    });
    afterAll(async () => {
      stopListening?.();
      await h?.close();
    });

    it('names the session in the access token (sid = refresh family), and keeps it across refreshes', async () => {
      const first = await login('fay');
      const { sid, iat } = decodeJwt(first.accessToken);
      expect(sid).toEqual(expect.any(String));
      expect(iat).toEqual(expect.any(Number));
      const refreshed = (await post('refresh', { refreshToken: first.refreshToken })).json();
      expect(decodeJwt(refreshed.accessToken).sid).toBe(sid);
      // Another login is another session.
      expect(decodeJwt((await login('fay')).accessToken).sid).not.toBe(sid);
    });

    it('records a logout as a revocation of its session, on the internal route and through onRevoked', async () => {
      const before = await internal();
      const pair = await login('gus');
      const sid = decodeJwt(pair.accessToken).sid;
      expect((await post('logout', { refreshToken: pair.refreshToken })).statusCode).toBe(204);

      const expected = { id: expect.any(Number), sid, userId: pair.user.id, revokedAt: expect.any(Number) };
      const page = await internal(`?after=${before.last}`);
      expect(page.revocations).toEqual([expected]);
      expect(page.last).toBe(page.revocations[0]!.id);
      expect(page.last).toBeGreaterThan(before.last);
      expect(heard.at(-1)).toEqual(page.revocations[0]);
      // A second logout of the same session records nothing more.
      await post('logout', { refreshToken: pair.refreshToken });
      expect((await internal(`?after=${page.last}`)).revocations).toEqual([]);
      expect(heard.filter((r) => r.sid === sid)).toHaveLength(1);
    });

    it('records a refresh token reused past the grace window as a revocation of its session', async () => {
      const pair = await login('hal');
      const sid = decodeJwt(pair.accessToken).sid;
      const last = (await internal()).last;
      expect((await post('refresh', { refreshToken: pair.refreshToken })).statusCode).toBe(200);
      h.clock.advance(11_000);
      const before = h.clock.now();
      expect((await post('refresh', { refreshToken: pair.refreshToken })).statusCode).toBe(401);
      const page = await internal(`?after=${last}`);
      expect(page.revocations).toEqual([
        { id: expect.any(Number), sid, userId: pair.user.id, revokedAt: expect.any(Number) },
      ]);
      expect(page.revocations[0]!.revokedAt).toBeGreaterThanOrEqual(before);
      expect(page.revocations[0]!.revokedAt).toBeLessThanOrEqual(h.clock.now());
      expect(heard.at(-1)).toEqual(page.revocations[0]);
    });

    it('pages with after and limit in ascending id', async () => {
      const all = await internal('?limit=1000');
      expect(all.revocations.length).toBeGreaterThanOrEqual(2);
      const ids = all.revocations.map((r) => r.id);
      expect(ids).toEqual([...ids].sort((a, b) => a - b));
      const first = await internal('?after=0&limit=1');
      expect(first.revocations).toEqual([all.revocations[0]]);
      const rest = await internal(`?after=${first.last}&limit=1000`);
      expect(rest.revocations).toEqual(all.revocations.slice(1));
      expect((await internal(`?after=${all.last}`)).last).toBe(all.last);
      const bad = await h.app.inject({ method: 'GET', url: '/api/auth/internal/revocations?limit=0' });
      expect(bad.statusCode).toBe(400);
      expect(bad.json().error.code).toBe('validation_failed');
    });

    it('is not in the OpenAPI document', async () => {
      const doc = (await h.app.inject({ method: 'GET', url: '/api/auth/docs/json' })).json();
      expect(Object.keys(doc.paths).filter((path) => path.includes('internal'))).toEqual([]);
      expect(doc.paths['/api/auth/me'].delete).toBeDefined();
    });

    it('refuses to delete an account with a wrong password (401 invalid_credentials)', async () => {
      const pair = await login('ivy');
      const res = await deleteMe(pair.accessToken, 'not the password');
      expect(res.statusCode).toBe(401);
      expect(res.json().error.code).toBe('invalid_credentials');
      expect(await h.store.findUserByUsername('ivy')).toBeDefined();
      expect((await deleteMe('not-a-token', PASSWORD)).statusCode).toBe(401);
    });

    it('throttles account deletion like a login', async () => {
      const pair = await login('jay');
      for (let i = 0; i < 5; i++) {
        expect((await deleteMe(pair.accessToken, `wrong ${i}`, '203.0.113.40')).statusCode).toBe(401);
      }
      const throttled = await deleteMe(pair.accessToken, PASSWORD, '203.0.113.40');
      expect(throttled.statusCode).toBe(429);
      expect(throttled.json().error.code).toBe('rate_limited');
      expect(Number(throttled.headers['retry-after'])).toBeGreaterThan(0);
    });

    it('deletes an account: a user-level revocation, no more login or refresh, and the username is free', async () => {
      const pair = await login('ivy');
      const userId = pair.user.id;
      const last = (await internal()).last;
      const before = h.clock.now();
      const res = await deleteMe(pair.accessToken, PASSWORD);
      expect(res.statusCode).toBe(204);
      expect(res.body).toBe('');

      const page = await internal(`?after=${last}`);
      expect(page.revocations).toEqual([
        { id: expect.any(Number), sid: null, userId, revokedAt: expect.any(Number) },
      ]);
      const { revokedAt } = page.revocations[0]!;
      expect(revokedAt).toBeGreaterThanOrEqual(before);
      // It covers every access token issued to the user so far: iat (seconds) ≤ revokedAt.
      expect(decodeJwt(pair.accessToken).iat! * 1000).toBeLessThanOrEqual(revokedAt);
      expect(heard.at(-1)).toEqual(page.revocations[0]);

      const relogin = await post('login', { username: 'ivy', password: PASSWORD });
      expect(relogin.statusCode).toBe(401);
      expect(relogin.json().error.code).toBe('invalid_credentials');
      const refresh = await post('refresh', { refreshToken: pair.refreshToken });
      expect(refresh.statusCode).toBe(401);
      expect(refresh.json().error.code).toBe('invalid_refresh_token');
      const me = await h.app.inject({
        method: 'GET',
        url: '/api/auth/me',
        headers: bearer(pair.accessToken),
      });
      expect(me.statusCode).toBe(401);
      expect((await deleteMe(pair.accessToken, PASSWORD)).statusCode).toBe(401);

      // Someone else may take the name: a new account with a new id.
      const again = await post('register', { username: 'ivy', password: 'another good password' });
      expect(again.statusCode).toBe(201);
      expect(again.json().user.id).not.toBe(userId);
    });

    it('stops telling a listener once it unsubscribes', async () => {
      const extra: Revocation[] = [];
      const stop = h.service.onRevoked((revocation) => extra.push(revocation));
      const first = await login('fay');
      await post('logout', { refreshToken: first.refreshToken });
      stop();
      const second = await login('fay');
      await post('logout', { refreshToken: second.refreshToken });
      expect(extra.map((r) => r.sid)).toEqual([decodeJwt(first.accessToken).sid]);
    });
  });
});
