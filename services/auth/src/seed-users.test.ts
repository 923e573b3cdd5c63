import { ChatError } from '@relay-chat/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OWASP_SCRYPT_PARAMS, paramsOf } from './passwords.js';
import { type SeededUser, type SeededUsers, seedUsers } from './seed-users.js';
import { BACKENDS, type Harness, startAuth } from './testing/harness.js';
import { hashRefreshToken } from './tokens.js';

describe.each(BACKENDS)('seedUsers on $name', (backend) => {
  describe.skipIf(!backend.available)('seeded users', () => {
    let h: Harness;
    let seeded: SeededUsers;
    const batches: number[] = [];
    const batchPasswords = new Set<string>();

    beforeAll(async () => {
      // Production hashing: the seeded hash is made at the OWASP cost, and logins verify it at that cost.
      h = await startAuth(backend, { productionHashing: true });
      seeded = await seedUsers({
        databaseUrl: h.config.databaseUrl,
        count: 50,
        usernamePrefix: 'Seed_',
        batchSize: 20,
        refreshTokenTtlSec: h.config.refreshTokenTtlSec,
        now: h.clock.now,
        onBatch: (batch) => {
          batches.push(batch.users.length);
          batchPasswords.add(batch.password);
        },
      });
    });
    afterAll(async () => {
      await h?.close();
    });

    const refresh = (refreshToken: string) =>
      h.app.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refreshToken } });
    const login = (username: string, password: string) =>
      h.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username, password } });

    it('creates the users with distinct lower-case names, ids and tokens, batch by batch', () => {
      const { users } = seeded;
      expect(users).toHaveLength(50);
      expect(batches).toEqual([20, 20, 10]);
      expect([...batchPasswords]).toEqual([seeded.password]);
      for (const user of users) expect(user.username).toMatch(/^seed_[0-9a-f]{8}$/);
      expect(new Set(users.map((u) => u.username)).size).toBe(50);
      expect(new Set(users.map((u) => u.id)).size).toBe(50);
      expect(new Set(users.map((u) => u.refreshToken)).size).toBe(50);
    });

    it('stores one real OWASP-cost hash shared by every user, and each its own refresh family', async () => {
      const records = await Promise.all(seeded.users.map((u) => h.store.findUserByUsername(u.username)));
      const hashes = new Set(records.map((r) => r?.passwordHash));
      expect(hashes.size).toBe(1);
      expect(paramsOf([...hashes][0]!)).toEqual(OWASP_SCRYPT_PARAMS);

      const tokens = await Promise.all(
        seeded.users.map((u) => h.store.findRefreshToken(hashRefreshToken(u.refreshToken))),
      );
      expect(new Set(tokens.map((t) => t?.familyId)).size).toBe(50);
      tokens.forEach((token, i) => {
        const user: SeededUser = seeded.users[i]!;
        expect(token).toMatchObject({
          userId: user.id,
          spentAt: null,
          familyRevokedAt: null,
          expiresAt: token!.createdAt + h.config.refreshTokenTtlSec * 1000,
        });
      });
    });

    it('starts a session at /refresh with a seeded token, which then rotates', async () => {
      const user = seeded.users[0]!;
      const first = await refresh(user.refreshToken);
      expect(first.statusCode).toBe(200);
      const pair = first.json();
      expect(pair.user).toEqual({ id: user.id, username: user.username });
      expect(pair.accessToken).toEqual(expect.any(String));
      expect(pair.refreshToken).not.toBe(user.refreshToken);

      const me = await h.app.inject({
        method: 'GET',
        url: '/api/auth/me',
        headers: { authorization: `Bearer ${pair.accessToken}` },
      });
      expect(me.json()).toEqual({ user: { id: user.id, username: user.username } });

      const second = await refresh(pair.refreshToken);
      expect(second.statusCode).toBe(200);
      // Past the grace window the spent seeded token is a reuse: refused.
      h.clock.advance((h.config.refreshGraceSec + 1) * 1000);
      const reused = await refresh(user.refreshToken);
      expect(reused.statusCode).toBe(401);
      expect(reused.json().error.code).toBe('invalid_refresh_token');
    });

    it('logs in with the shared password through the real verification, and not with a wrong one', async () => {
      const user = seeded.users[1]!;
      const ok = await login(user.username, seeded.password);
      expect(ok.statusCode).toBe(200);
      expect(ok.json().user).toEqual({ id: user.id, username: user.username });

      const wrong = await login(seeded.users[2]!.username, `${seeded.password}x`);
      expect(wrong.statusCode).toBe(401);
      expect(wrong.json().error.code).toBe('invalid_credentials');
    });
  });
});

describe('seedUsers arguments', () => {
  const databaseUrl = 'postgres://nobody@127.0.0.1:1/never-opened';

  it('refuses a prefix that cannot make a valid username, before touching the database', async () => {
    for (const usernamePrefix of ['bad prefix ', 'x'.repeat(25), 'émile_']) {
      const err = await seedUsers({ databaseUrl, count: 1, usernamePrefix }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ChatError);
      expect((err as ChatError).code).toBe('validation_failed');
    }
  });

  it('refuses a count that is not a positive integer', async () => {
    for (const count of [0, -1, 1.5]) {
      const err = await seedUsers({ databaseUrl, count, usernamePrefix: 'b_' }).catch((e: unknown) => e);
      expect((err as ChatError).code).toBe('validation_failed');
    }
  });
});
