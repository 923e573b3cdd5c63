/**
 * The one contract every UserStore passes (run against SQLite and PostgreSQL by
 * `kysely.test.ts`). Each suite gets one fresh store; tests use distinct usernames.
 */
import { randomUUID } from 'node:crypto';
import { asUserId, type UserId } from '@relay-chat/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NewRefreshToken, UserRecord, UserStore } from './user-store.js';

export interface UserStoreFactory {
  /** Shown in the suite name. */
  name: string;
  /** Skip the suite (backend unreachable). */
  skip?: boolean;
  /** A fresh, migrated, empty store, and how to dispose of it. */
  create(): Promise<{ store: UserStore; destroy(): Promise<void> }>;
}

const T0 = 1_700_000_000_000;
const MINUTE = 60_000;
const newUserId = (): UserId => asUserId(randomUUID());

function user(username: string): UserRecord {
  return { id: newUserId(), username, passwordHash: `hash-of-${username}`, createdAt: T0 };
}

function token(userId: UserId, familyId: string, overrides: Partial<NewRefreshToken> = {}): NewRefreshToken {
  return {
    tokenHash: randomUUID().replace(/-/g, ''),
    familyId,
    userId,
    createdAt: T0,
    expiresAt: T0 + 60 * MINUTE,
    ...overrides,
  };
}

export function describeUserStore(factory: UserStoreFactory): void {
  describe.skipIf(factory.skip ?? false)(`UserStore contract: ${factory.name}`, () => {
    let store: UserStore;
    let destroy: () => Promise<void>;

    beforeAll(async () => {
      ({ store, destroy } = await factory.create());
    });
    afterAll(async () => {
      await destroy?.();
    });

    it('answers ping and migrates again without change', async () => {
      await store.ping();
      await store.migrate();
    });

    describe('users', () => {
      it('stores a user and finds it by username and by id', async () => {
        const alice = user('alice');
        expect(await store.createUser(alice)).toBe(true);
        expect(await store.findUserByUsername('alice')).toEqual(alice);
        expect(await store.findUserById(alice.id)).toEqual(alice);
      });

      it('refuses a second user with a taken username and keeps the first', async () => {
        const first = user('taken');
        expect(await store.createUser(first)).toBe(true);
        expect(await store.createUser(user('taken'))).toBe(false);
        expect((await store.findUserByUsername('taken'))?.id).toBe(first.id);
      });

      it('answers undefined for unknown users', async () => {
        expect(await store.findUserByUsername('nobody')).toBeUndefined();
        expect(await store.findUserById(newUserId())).toBeUndefined();
      });

      it('finds users by ids, ordered by username, leaving out unknown and repeated ids', async () => {
        const zed = user('ids-zed');
        const amy = user('ids-amy');
        await store.createUser(zed);
        await store.createUser(amy);
        const found = await store.findUsersByIds([zed.id, newUserId(), amy.id, zed.id]);
        expect(found).toEqual([
          { id: amy.id, username: 'ids-amy' },
          { id: zed.id, username: 'ids-zed' },
        ]);
        expect(await store.findUsersByIds([])).toEqual([]);
      });

      it('updates a password hash', async () => {
        const bob = user('bob');
        await store.createUser(bob);
        await store.updatePasswordHash(bob.id, 'new-hash');
        expect((await store.findUserById(bob.id))?.passwordHash).toBe('new-hash');
      });
    });

    describe('searchUsers', () => {
      // Bytewise order: '-' < '.' < digits < '_' < letters.
      const names = ['srch-b', 'srch.a', 'srch0', 'srch_x', 'srcha', 'srchz', 'srcx'];
      beforeAll(async () => {
        for (const name of names) await store.createUser(user(name));
      });

      it('finds usernames by prefix in bytewise order', async () => {
        const found = await store.searchUsers({ prefix: 'srch', limit: 100 });
        expect(found.map((u) => u.username)).toEqual([
          'srch-b',
          'srch.a',
          'srch0',
          'srch_x',
          'srcha',
          'srchz',
        ]);
      });

      it('treats _ and . in a prefix literally, not as wildcards', async () => {
        expect((await store.searchUsers({ prefix: 'srch_', limit: 100 })).map((u) => u.username)).toEqual([
          'srch_x',
        ]);
        expect((await store.searchUsers({ prefix: 'srch.', limit: 100 })).map((u) => u.username)).toEqual([
          'srch.a',
        ]);
      });

      it('pages with a limit and an after-cursor', async () => {
        const first = await store.searchUsers({ prefix: 'srch', limit: 2 });
        expect(first.map((u) => u.username)).toEqual(['srch-b', 'srch.a']);
        const second = await store.searchUsers({ prefix: 'srch', after: 'srch.a', limit: 3 });
        expect(second.map((u) => u.username)).toEqual(['srch0', 'srch_x', 'srcha']);
        const last = await store.searchUsers({ prefix: 'srch', after: 'srchz', limit: 3 });
        expect(last).toEqual([]);
      });

      it('lists everyone with an empty prefix', async () => {
        const all = await store.searchUsers({ prefix: '', limit: 1000 });
        const usernames = all.map((u) => u.username);
        expect(usernames).toEqual(expect.arrayContaining(names));
        expect(usernames).toEqual([...usernames].sort());
      });
    });

    describe('refresh tokens', () => {
      let owner: UserRecord;
      beforeAll(async () => {
        owner = user('token-owner');
        await store.createUser(owner);
      });

      it('spends a live token once and records when', async () => {
        const first = token(owner.id, randomUUID());
        await store.createRefreshFamily(first);
        const spent = await store.spendRefreshToken(first.tokenHash, T0 + MINUTE);
        expect(spent).toEqual({ ...first, spentAt: T0 + MINUTE, familyRevokedAt: null });
        expect(await store.spendRefreshToken(first.tokenHash, T0 + 2 * MINUTE)).toBeUndefined();
        expect(await store.findRefreshToken(first.tokenHash)).toEqual(spent);
      });

      it('lets exactly one of many concurrent spends win', async () => {
        const first = token(owner.id, randomUUID());
        await store.createRefreshFamily(first);
        const results = await Promise.all(
          Array.from({ length: 8 }, () => store.spendRefreshToken(first.tokenHash, T0 + MINUTE)),
        );
        expect(results.filter((r) => r !== undefined)).toHaveLength(1);
      });

      it('does not spend an expired token', async () => {
        const first = token(owner.id, randomUUID(), { expiresAt: T0 + MINUTE });
        await store.createRefreshFamily(first);
        expect(await store.spendRefreshToken(first.tokenHash, T0 + MINUTE)).toBeUndefined();
        expect((await store.findRefreshToken(first.tokenHash))?.spentAt).toBeNull();
      });

      it('revokes a whole family, including tokens added after the revocation', async () => {
        const familyId = randomUUID();
        const first = token(owner.id, familyId);
        const second = token(owner.id, familyId);
        await store.createRefreshFamily(first);
        await store.addRefreshToken(second);
        await store.revokeRefreshFamily(familyId, T0 + MINUTE);
        const late = token(owner.id, familyId);
        await store.addRefreshToken(late);
        for (const t of [first, second, late]) {
          expect(await store.spendRefreshToken(t.tokenHash, T0 + 2 * MINUTE)).toBeUndefined();
          expect((await store.findRefreshToken(t.tokenHash))?.familyRevokedAt).toBe(T0 + MINUTE);
        }
      });

      it('keeps the first revocation time when revoked twice, and records the revocation once', async () => {
        const first = token(owner.id, randomUUID());
        await store.createRefreshFamily(first);
        const revocation = await store.revokeRefreshFamily(first.familyId, T0 + MINUTE);
        expect(revocation).toEqual({
          id: expect.any(Number),
          sid: first.familyId,
          userId: owner.id,
          revokedAt: T0 + MINUTE,
        });
        expect(await store.revokeRefreshFamily(first.familyId, T0 + 5 * MINUTE)).toBeUndefined();
        expect((await store.findRefreshToken(first.tokenHash))?.familyRevokedAt).toBe(T0 + MINUTE);
        const recorded = await store.revocationsAfter(revocation!.id - 1, 10);
        expect(recorded).toEqual([revocation]);
      });

      it('records nothing when revoking an unknown family', async () => {
        expect(await store.revokeRefreshFamily(randomUUID(), T0)).toBeUndefined();
      });

      it('answers undefined for an unknown token', async () => {
        expect(await store.findRefreshToken('0'.repeat(64))).toBeUndefined();
        expect(await store.spendRefreshToken('0'.repeat(64), T0)).toBeUndefined();
      });
    });

    describe('revocations', () => {
      it('lists revocations after an id in ascending order, a page at a time', async () => {
        const owner = user('revoking-owner');
        await store.createUser(owner);
        const families = Array.from({ length: 5 }, () => randomUUID());
        for (const familyId of families) await store.createRefreshFamily(token(owner.id, familyId));
        const recorded = [];
        for (const familyId of families) recorded.push((await store.revokeRefreshFamily(familyId, T0))!);
        const ids = recorded.map((r) => r.id);
        expect(ids).toEqual([...ids].sort((a, b) => a - b));
        const start = ids[0]! - 1;
        expect(await store.revocationsAfter(start, 2)).toEqual(recorded.slice(0, 2));
        expect(await store.revocationsAfter(ids[1]!, 10)).toEqual(recorded.slice(2));
        expect(await store.revocationsAfter(ids[4]!, 10)).toEqual([]);
      });

      it('gives concurrent revocations distinct ids, all visible to a reader of `after`', async () => {
        const owner = user('concurrent-revoker');
        await store.createUser(owner);
        const families = Array.from({ length: 8 }, () => randomUUID());
        for (const familyId of families) await store.createRefreshFamily(token(owner.id, familyId));
        const before = (await store.revocationsAfter(0, 100_000)).at(-1)?.id ?? 0;
        const recorded = await Promise.all(families.map((f) => store.revokeRefreshFamily(f, T0)));
        expect(new Set(recorded.map((r) => r?.id)).size).toBe(8);
        const listed = await store.revocationsAfter(before, 100);
        expect(listed.map((r) => r.sid).sort()).toEqual([...families].sort());
      });
    });

    describe('deleteUser', () => {
      it('deletes the user with their sessions and addresses, and records a user-level revocation', async () => {
        const gone = user('leaving');
        const stays = user('staying');
        await store.createUser(gone);
        await store.createUser(stays);
        const goneToken = token(gone.id, randomUUID());
        const staysToken = token(stays.id, randomUUID());
        await store.createRefreshFamily(goneToken);
        await store.createRefreshFamily(staysToken);
        await store.rememberLoginAddress('leaving', '10.3.0.1', T0);

        const revocation = await store.deleteUser(gone.id, T0 + MINUTE);
        expect(revocation).toEqual({
          id: expect.any(Number),
          sid: null,
          userId: gone.id,
          revokedAt: T0 + MINUTE,
        });
        expect(await store.revocationsAfter(revocation!.id - 1, 1)).toEqual([revocation]);
        expect(await store.findUserById(gone.id)).toBeUndefined();
        expect(await store.findUserByUsername('leaving')).toBeUndefined();
        expect(await store.findRefreshToken(goneToken.tokenHash)).toBeUndefined();
        expect(await store.lastLoginFromAddress('leaving', '10.3.0.1')).toBeUndefined();
        // Nobody else is touched.
        expect(await store.findRefreshToken(staysToken.tokenHash)).toBeDefined();
        expect((await store.findUserById(stays.id))?.username).toBe('staying');
        // The username is free again, for a new account with a new id.
        const again = user('leaving');
        expect(await store.createUser(again)).toBe(true);
        expect((await store.findUserByUsername('leaving'))?.id).toBe(again.id);
      });

      it('does nothing for an unknown user', async () => {
        const before = (await store.revocationsAfter(0, 100_000)).length;
        expect(await store.deleteUser(newUserId(), T0)).toBeUndefined();
        expect(await store.revocationsAfter(0, 100_000)).toHaveLength(before);
      });
    });

    describe('login throttling state', () => {
      it('finds the n-th most recent failure after a time', async () => {
        await store.recordLoginFailure('a1', ['k1', 'k2'], T0);
        await store.recordLoginFailure('a2', ['k1'], T0 + MINUTE);
        await store.recordLoginFailure('a3', ['k1'], T0 + 2 * MINUTE);
        expect(await store.nthRecentLoginFailure('k1', T0 - 1, 1)).toBe(T0 + 2 * MINUTE);
        expect(await store.nthRecentLoginFailure('k1', T0 - 1, 3)).toBe(T0);
        expect(await store.nthRecentLoginFailure('k1', T0 - 1, 4)).toBeUndefined();
        expect(await store.nthRecentLoginFailure('k1', T0, 3)).toBeUndefined();
        expect(await store.nthRecentLoginFailure('k2', T0 - 1, 1)).toBe(T0);
      });

      it('clears the failures of one key only', async () => {
        await store.recordLoginFailure('c', ['c1', 'c2'], T0);
        await store.clearLoginFailures('c1');
        expect(await store.nthRecentLoginFailure('c1', 0, 1)).toBeUndefined();
        expect(await store.nthRecentLoginFailure('c2', 0, 1)).toBe(T0);
      });

      it('forgets one attempt under every key, leaving the others', async () => {
        await store.recordLoginFailure('f1', ['fa', 'fb'], T0);
        await store.recordLoginFailure('f2', ['fa'], T0 + MINUTE);
        await store.forgetLoginFailure('f1');
        expect(await store.nthRecentLoginFailure('fa', 0, 1)).toBe(T0 + MINUTE);
        expect(await store.nthRecentLoginFailure('fa', 0, 2)).toBeUndefined();
        expect(await store.nthRecentLoginFailure('fb', 0, 1)).toBeUndefined();
      });

      it('remembers the last successful login per username and address', async () => {
        expect(await store.lastLoginFromAddress('carol', '10.0.0.1')).toBeUndefined();
        await store.rememberLoginAddress('carol', '10.0.0.1', T0);
        await store.rememberLoginAddress('carol', '10.0.0.1', T0 + MINUTE);
        expect(await store.lastLoginFromAddress('carol', '10.0.0.1')).toBe(T0 + MINUTE);
        expect(await store.lastLoginFromAddress('carol', '10.0.0.2')).toBeUndefined();
      });
    });

    describe('registration throttling state', () => {
      it('finds the n-th most recent attempt, from one address or from anywhere', async () => {
        await store.recordRegistrationAttempt('r1', '10.9.0.1', T0);
        await store.recordRegistrationAttempt('r2', '10.9.0.2', T0 + MINUTE);
        await store.recordRegistrationAttempt('r3', '10.9.0.1', T0 + 2 * MINUTE);
        const since = T0 - 1;
        expect(await store.nthRecentRegistrationAttempt({ address: '10.9.0.1', since, n: 1 })).toBe(
          T0 + 2 * MINUTE,
        );
        expect(await store.nthRecentRegistrationAttempt({ address: '10.9.0.1', since, n: 2 })).toBe(T0);
        expect(
          await store.nthRecentRegistrationAttempt({ address: '10.9.0.1', since, n: 3 }),
        ).toBeUndefined();
        expect(await store.nthRecentRegistrationAttempt({ since, n: 3 })).toBe(T0);
        expect(await store.nthRecentRegistrationAttempt({ since: T0, n: 3 })).toBeUndefined();
      });

      it('forgets one attempt', async () => {
        await store.recordRegistrationAttempt('rf', '10.9.1.1', T0);
        await store.forgetRegistrationAttempt('rf');
        expect(
          await store.nthRecentRegistrationAttempt({ address: '10.9.1.1', since: 0, n: 1 }),
        ).toBeUndefined();
      });
    });

    describe('prune', () => {
      it('deletes expired tokens, empty families, old failures and stale addresses', async () => {
        const owner = user('prune-owner');
        await store.createUser(owner);
        const old = token(owner.id, randomUUID(), { expiresAt: T0 + MINUTE });
        const live = token(owner.id, randomUUID(), { expiresAt: T0 + 100 * MINUTE });
        await store.createRefreshFamily(old);
        await store.createRefreshFamily(live);
        await store.recordLoginFailure('p1', ['prune-old'], T0);
        await store.recordLoginFailure('p2', ['prune-new'], T0 + 10 * MINUTE);
        await store.rememberLoginAddress('prune-owner', 'old', T0);
        await store.rememberLoginAddress('prune-owner', 'new', T0 + 10 * MINUTE);
        await store.recordRegistrationAttempt('prune-r-old', 'prune-address', T0);
        await store.recordRegistrationAttempt('prune-r-new', 'prune-address', T0 + 10 * MINUTE);
        const oldUser = user('prune-old-user');
        await store.createUser(oldUser);
        const oldRevocation = await store.deleteUser(oldUser.id, T0);
        const newRevocation = await store.revokeRefreshFamily(live.familyId, T0 + 10 * MINUTE);

        await store.prune({
          now: T0 + 2 * MINUTE,
          failuresBefore: T0 + MINUTE,
          addressesBefore: T0 + MINUTE,
          registrationsBefore: T0 + MINUTE,
          revocationsBefore: T0 + MINUTE,
        });

        expect(await store.findRefreshToken(old.tokenHash)).toBeUndefined();
        expect(await store.findRefreshToken(live.tokenHash)).toBeDefined();
        // The emptied family is gone: a token added to it now would have no family.
        await expect(store.addRefreshToken(token(owner.id, old.familyId))).rejects.toThrow();
        expect(await store.nthRecentLoginFailure('prune-old', 0, 1)).toBeUndefined();
        expect(await store.nthRecentLoginFailure('prune-new', 0, 1)).toBe(T0 + 10 * MINUTE);
        expect(await store.lastLoginFromAddress('prune-owner', 'old')).toBeUndefined();
        expect(await store.lastLoginFromAddress('prune-owner', 'new')).toBe(T0 + 10 * MINUTE);
        const pruneAddress = { address: 'prune-address', since: 0 };
        expect(await store.nthRecentRegistrationAttempt({ ...pruneAddress, n: 1 })).toBe(T0 + 10 * MINUTE);
        expect(await store.nthRecentRegistrationAttempt({ ...pruneAddress, n: 2 })).toBeUndefined();
        const kept = await store.revocationsAfter(oldRevocation!.id - 1, 100_000);
        expect(kept.map((r) => r.id)).not.toContain(oldRevocation!.id);
        expect(kept.map((r) => r.id)).toContain(newRevocation!.id);
      });
    });
  });
}
