import { asUserId } from '@relay-chat/protocol';
import { describe, expect, it } from 'vitest';
import { RevocationList } from './revocation-list.js';

describe('RevocationList', () => {
  it('refuses every token of a revoked login and none of the user’s other logins', () => {
    const list = new RevocationList(60_000);
    list.apply({ id: 1, sid: 'family-a', userId: asUserId('ada'), revokedAt: 1000 }, 1000);
    expect(list.isRevoked({ userId: asUserId('ada'), sid: 'family-a', issuedAt: 5000 })).toBe(true);
    expect(list.isRevoked({ userId: asUserId('ada'), sid: 'family-b', issuedAt: 500 })).toBe(false);
    expect(list.isRevoked({ userId: asUserId('ada'), issuedAt: 500 })).toBe(false);
  });

  it('refuses a deleted account’s tokens issued up to the deletion, whatever their login', () => {
    const list = new RevocationList(60_000);
    list.apply({ id: 1, sid: null, userId: asUserId('bob'), revokedAt: 2000 }, 2000);
    expect(list.isRevoked({ userId: asUserId('bob'), sid: 'x', issuedAt: 1999 })).toBe(true);
    expect(list.isRevoked({ userId: asUserId('bob'), issuedAt: 2000 })).toBe(true);
    expect(list.isRevoked({ userId: asUserId('bob'), issuedAt: 2001 })).toBe(false);
  });

  it('applies each revocation once, in id order, and tells its listeners', () => {
    const list = new RevocationList(60_000);
    const seen: number[] = [];
    list.onRevoked((r) => seen.push(r.id));
    list.apply({ id: 2, sid: 's2', userId: asUserId('u'), revokedAt: 0 }, 0);
    list.apply({ id: 2, sid: 's2', userId: asUserId('u'), revokedAt: 0 }, 0);
    list.apply({ id: 1, sid: 's1', userId: asUserId('u'), revokedAt: 0 }, 0);
    expect(seen).toEqual([2]);
    expect(list.last).toBe(2);
  });

  it('forgets entries once every token they could refuse has expired', () => {
    const list = new RevocationList(1000);
    list.apply({ id: 1, sid: 'old', userId: asUserId('u'), revokedAt: 0 }, 0);
    list.apply({ id: 2, sid: 'new', userId: asUserId('u'), revokedAt: 5000 }, 5000);
    expect(list.isRevoked({ userId: asUserId('u'), sid: 'old', issuedAt: 0 })).toBe(false);
    expect(list.isRevoked({ userId: asUserId('u'), sid: 'new', issuedAt: 0 })).toBe(true);
  });
});
