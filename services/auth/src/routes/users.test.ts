import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import type { User } from '@relay-chat/protocol';
import { base64url, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, bearer, type Harness, startAuth } from '../testing/harness.js';

describe.each(BACKENDS)('user routes on $name', (backend) => {
  describe.skipIf(!backend.available)('directory and bearer authentication', () => {
    let h: Harness;
    let me: User;
    let token: string;
    let kid: string;
    const seeded: User[] = [];

    const get = (url: string, headers: Record<string, string> = bearer(token)) =>
      h.app.inject({ method: 'GET', url: `/api/auth/${url}`, headers });

    /** A token with our claims by default, signed with `key` (default: the service's key). */
    function forge(
      claims: Record<string, unknown> = {},
      header: Record<string, unknown> = {},
      key: KeyObject = h.signingKey,
    ): Promise<string> {
      const now = Math.floor(Date.now() / 1000);
      const payload = {
        iss: 'relay-chat',
        aud: 'relay-chat',
        sub: me.id,
        username: me.username,
        iat: now,
        exp: now + 600,
        ...claims,
      };
      // A claim given as undefined is left out.
      const present = Object.fromEntries(Object.entries(payload).filter(([, v]) => v !== undefined));
      return new SignJWT(present)
        .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid, ...header })
        .sign(key);
    }

    beforeAll(async () => {
      h = await startAuth(backend);
      me = await h.seedUser('me-user');
      // 120 users in the directory: more than one page of the largest size.
      for (let i = 0; i < 120; i++) seeded.push(await h.seedUser(`dir${String(i).padStart(3, '0')}`));
      seeded.push(await h.seedUser('dir_under'), await h.seedUser('dirx'));
      token = await h.service.issueAccessToken(me);
      kid = h.service.jwks().keys[0]!.kid!;
    });
    afterAll(async () => {
      await h?.close();
    });

    it('answers /me with the caller', async () => {
      const res = await get('me');
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ user: me });
    });

    it('accepts a token forged the same way as the service (control for the rejections below)', async () => {
      expect((await get('me', bearer(await forge()))).statusCode).toBe(200);
    });

    it('refuses /me without a bearer token', async () => {
      for (const headers of [
        {},
        { authorization: 'Basic bWU6cGFzcw==' },
        { authorization: 'Bearer' },
      ] as Record<string, string>[]) {
        const res = await get('me', headers);
        expect(res.statusCode).toBe(401);
        expect(res.json().error.code).toBe('unauthorized');
      }
    });

    const rejections: [string, () => Promise<string>, string][] = [
      [
        'alg none',
        async () => {
          const header = base64url.encode(JSON.stringify({ alg: 'none', typ: 'at+jwt', kid }));
          const now = Math.floor(Date.now() / 1000);
          const payload = base64url.encode(
            JSON.stringify({
              sub: me.id,
              username: me.username,
              iss: 'relay-chat',
              aud: 'relay-chat',
              iat: now,
              exp: now + 600,
            }),
          );
          return `${header}.${payload}.`;
        },
        'unauthorized',
      ],
      [
        'a token signed with another key',
        () => forge({}, {}, generateKeyPairSync('ed25519').privateKey),
        'unauthorized',
      ],
      ['an unknown kid', () => forge({}, { kid: 'not-a-known-kid' }), 'unauthorized'],
      [
        'an expired token',
        () => forge({ iat: Math.floor(Date.now() / 1000) - 2000, exp: Math.floor(Date.now() / 1000) - 60 }),
        'token_expired',
      ],
      ['nbf in the future', () => forge({ nbf: Math.floor(Date.now() / 1000) + 600 }), 'unauthorized'],
      ['the wrong aud', () => forge({ aud: 'someone-else' }), 'unauthorized'],
      ['the wrong iss', () => forge({ iss: 'https://evil.example' }), 'unauthorized'],
      ['typ JWT instead of at+jwt', () => forge({}, { typ: 'JWT' }), 'unauthorized'],
      [
        'a refresh token presented as an access token',
        async () => {
          await h.app.inject({
            method: 'POST',
            url: '/api/auth/register',
            payload: { username: 'refresher', password: 'refresher password' },
          });
          const login = await h.app.inject({
            method: 'POST',
            url: '/api/auth/login',
            payload: { username: 'refresher', password: 'refresher password' },
          });
          return login.json().refreshToken;
        },
        'unauthorized',
      ],
      ['a truncated signature', async () => (await forge()).slice(0, -6), 'unauthorized'],
      [
        'an HS256 token keyed with the public key (algorithm confusion)',
        async () => {
          const x = h.service.jwks().keys[0]!.x!;
          return new SignJWT({ username: me.username })
            .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid })
            .setIssuer('relay-chat')
            .setAudience('relay-chat')
            .setSubject(me.id)
            .setIssuedAt()
            .setExpirationTime('10m')
            .sign(new TextEncoder().encode(x));
        },
        'unauthorized',
      ],
      ['a token without sub', () => forge({ sub: undefined }), 'unauthorized'],
      ['a token without username', () => forge({ username: undefined }), 'unauthorized'],
    ];

    it.each(rejections)('rejects %s with 401', async (_name, make, code) => {
      const forged = await make();
      for (const url of ['me', 'users', `users/${me.id}`]) {
        const res = await get(url, bearer(forged));
        expect(res.statusCode).toBe(401);
        expect(res.json().error.code).toBe(code);
      }
    });

    it('lists the directory in username order with a cursor to the next page', async () => {
      const first = await get('users?q=dir&limit=100');
      expect(first.statusCode).toBe(200);
      const page1 = first.json();
      expect(page1.users).toHaveLength(100);
      expect(page1.users[0]).toEqual(seeded[0]);
      expect(page1.nextCursor).toEqual(expect.any(String));
      const page2 = (await get(`users?q=dir&limit=100&cursor=${page1.nextCursor}`)).json();
      expect(page2.users.map((u: User) => u.username)).toEqual([
        ...seeded.slice(100, 120).map((u) => u.username),
        'dir_under',
        'dirx',
      ]);
      expect(page2.nextCursor).toBeNull();
    });

    it('searches by a case-insensitive prefix, taking _ literally', async () => {
      const res = await get('users?q=DIR_');
      expect(res.json()).toEqual({ users: [seeded.at(-2)], nextCursor: null });
      expect((await get('users?q=nobody')).json()).toEqual({ users: [], nextCursor: null });
    });

    it('pages with the default size of 50 when no limit is given', async () => {
      const res = (await get('users?q=dir')).json();
      expect(res.users).toHaveLength(50);
      expect(res.nextCursor).not.toBeNull();
    });

    it('looks users up by ids, leaving out unknown ones', async () => {
      const ids = [seeded[5]!.id, 'unknown-id', me.id].join(',');
      const res = await get(`users?ids=${ids}`);
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ users: [seeded[5], me], nextCursor: null });
    });

    it('looks up 100 ids at once but not 101', async () => {
      const ids = seeded.slice(0, 100).map((u) => u.id);
      const ok = await get(`users?ids=${ids.join(',')}`);
      expect(ok.json().users).toHaveLength(100);
      const tooMany = await get(`users?ids=${[...ids, me.id].join(',')}`);
      expect(tooMany.statusCode).toBe(400);
      expect(tooMany.json().error).toMatchObject({ code: 'validation_failed', fields: [{ field: '/ids' }] });
    });

    it('answers one user by id, and not_found for an unknown id', async () => {
      expect((await get(`users/${seeded[7]!.id}`)).json()).toEqual({ user: seeded[7] });
      const missing = await get('users/no-such-user');
      expect(missing.statusCode).toBe(404);
      expect(missing.json().error.code).toBe('not_found');
    });

    it('requires a bearer token for the directory and lookups', async () => {
      for (const url of ['users', `users?ids=${me.id}`, `users/${me.id}`]) {
        expect((await get(url, {})).statusCode).toBe(401);
      }
    });
  });
});
