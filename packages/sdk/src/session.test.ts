import { asUserId, ChatError, type TokenPair } from '@relay-chat/protocol';
import { describe, expect, it } from 'vitest';
import { parseSessionTokens, Session, type SessionTokens } from './session.js';

const user = { id: asUserId('u1'), username: 'ann' };

/** A refresh function that hands out numbered pairs (no server: the Session's own logic is under test). */
function refresher() {
  const spent: string[] = [];
  let n = 0;
  let failWith: ChatError | undefined;
  let gate: Promise<void> | undefined;
  const refresh = async (refreshToken: string): Promise<TokenPair> => {
    spent.push(refreshToken);
    if (gate) await gate;
    if (failWith) throw failWith;
    n += 1;
    return { accessToken: `access-${n}`, refreshToken: `refresh-${n}`, expiresIn: 900, user };
  };
  return {
    refresh,
    spent,
    fail: (error: ChatError | undefined) => {
      failWith = error;
    },
    hold: () => {
      let release!: () => void;
      gate = new Promise((resolve) => {
        release = resolve;
      });
      return () => {
        gate = undefined;
        release();
      };
    },
  };
}

function clock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

const tokens = (now: number, ttlMs: number, n = 0): SessionTokens => ({
  accessToken: `access-${n}`,
  refreshToken: `refresh-${n}`,
  expiresAt: now + ttlMs,
  user,
});

describe('Session', () => {
  it('hands out the stored access token while it has more than refreshBeforeMs left', async () => {
    const r = refresher();
    const c = clock();
    const session = new Session({ refresh: r.refresh, tokens: tokens(c.now(), 600_000), now: c.now });
    expect(await session.getToken()).toBe('access-0');
    expect(r.spent).toEqual([]);
  });

  it('refreshes first when the access token is about to expire, and stores expiresAt from expiresIn', async () => {
    const r = refresher();
    const c = clock();
    const session = new Session({ refresh: r.refresh, tokens: tokens(c.now(), 30_000), now: c.now });
    expect(await session.getToken()).toBe('access-1');
    expect(r.spent).toEqual(['refresh-0']);
    expect(session.tokens).toEqual({
      accessToken: 'access-1',
      refreshToken: 'refresh-1',
      expiresAt: c.now() + 900_000,
      user,
    });
  });

  it('refreshes on forceRefresh even when the token looks fresh', async () => {
    const r = refresher();
    const c = clock();
    const session = new Session({ refresh: r.refresh, tokens: tokens(c.now(), 600_000), now: c.now });
    expect(await session.getToken({ forceRefresh: true })).toBe('access-1');
  });

  it('runs one refresh for many concurrent callers', async () => {
    const r = refresher();
    const c = clock();
    const session = new Session({ refresh: r.refresh, tokens: tokens(c.now(), 1_000), now: c.now });
    const release = r.hold();
    const all = Promise.all([
      session.getToken(),
      session.getToken({ forceRefresh: true }),
      session.refresh().then((t) => t.accessToken),
    ]);
    release();
    expect(await all).toEqual(['access-1', 'access-1', 'access-1']);
    expect(r.spent).toEqual(['refresh-0']);
  });

  it('notifies every change, including sign-out', async () => {
    const r = refresher();
    const c = clock();
    const session = new Session({ refresh: r.refresh, tokens: tokens(c.now(), 1_000), now: c.now });
    const seen: (string | null)[] = [];
    session.onChange((t) => seen.push(t?.refreshToken ?? null));
    await session.getToken();
    session.clear();
    expect(seen).toEqual(['refresh-1', null]);
    expect(session.signedIn).toBe(false);
  });

  it('signs out when the refresh token is refused for good', async () => {
    const r = refresher();
    const c = clock();
    const session = new Session({ refresh: r.refresh, tokens: tokens(c.now(), 1_000), now: c.now });
    r.fail(new ChatError('invalid_refresh_token'));
    await expect(session.getToken()).rejects.toMatchObject({ code: 'invalid_refresh_token' });
    expect(session.tokens).toBeNull();
    await expect(session.getToken()).rejects.toMatchObject({ code: 'unauthorized' });
  });

  it('keeps using a still-valid token when a routine refresh fails for a transient reason', async () => {
    const r = refresher();
    const c = clock();
    const session = new Session({ refresh: r.refresh, tokens: tokens(c.now(), 10_000), now: c.now });
    r.fail(new ChatError('unavailable'));
    expect(await session.getToken()).toBe('access-0');
    await expect(session.getToken({ forceRefresh: true })).rejects.toMatchObject({ code: 'unavailable' });
    expect(session.tokens?.refreshToken).toBe('refresh-0');
    c.advance(20_000);
    await expect(session.getToken()).rejects.toMatchObject({ code: 'unavailable' });
  });

  it("adopts another tab's fresher tokens from storage instead of spending its own refresh token", async () => {
    const r = refresher();
    const c = clock();
    let stored: SessionTokens | null = tokens(c.now(), 1_000, 0);
    const session = new Session({ refresh: r.refresh, tokens: stored, now: c.now, load: () => stored });
    stored = tokens(c.now(), 900_000, 7);
    expect(await session.getToken()).toBe('access-7');
    expect(r.spent).toEqual([]);
    expect(session.tokens?.refreshToken).toBe('refresh-7');
  });

  it('runs refreshes under the given lock', async () => {
    const r = refresher();
    const c = clock();
    let locked = 0;
    const session = new Session({
      refresh: r.refresh,
      tokens: tokens(c.now(), 1_000),
      now: c.now,
      lock: async (task) => {
        locked += 1;
        return task();
      },
    });
    await session.getToken();
    expect(locked).toBe(1);
  });

  it('does not bring back a session that was signed out while its refresh was in flight', async () => {
    const r = refresher();
    const c = clock();
    const session = new Session({ refresh: r.refresh, tokens: tokens(c.now(), 1_000), now: c.now });
    const release = r.hold();
    const pending = session.getToken();
    session.clear();
    release();
    await expect(pending).rejects.toMatchObject({ code: 'unauthorized' });
    expect(session.tokens).toBeNull();
  });

  it('refreshes by itself before expiry with autoRefresh', async () => {
    const r = refresher();
    const session = new Session({
      refresh: r.refresh,
      tokens: tokens(Date.now(), 60_020),
      refreshBeforeMs: 60_000,
      autoRefresh: true,
    });
    const changed = new Promise((resolve) => session.onChange(resolve));
    await changed;
    expect(session.tokens?.accessToken).toBe('access-1');
    session.dispose();
  });

  it('refreshes a cookie-mode session (no refresh token) with refreshWithCookie, and keeps no refresh token', async () => {
    const c = clock();
    let cookieRefreshes = 0;
    const session = new Session({
      refreshWithCookie: async () => {
        cookieRefreshes += 1;
        return { accessToken: `cookie-access-${cookieRefreshes}`, expiresIn: 900, user };
      },
      // What a reloaded page knows: who is signed in, not an access token.
      tokens: { accessToken: '', expiresAt: 0, user },
      now: c.now,
    });
    expect(await session.getToken()).toBe('cookie-access-1');
    expect(session.tokens).toEqual({ accessToken: 'cookie-access-1', expiresAt: c.now() + 900_000, user });
    expect('refreshToken' in session.tokens!).toBe(false);
    expect(await session.getToken({ forceRefresh: true })).toBe('cookie-access-2');
  });

  it('moves a session with a refresh token into cookie mode when its refresh answers without one', async () => {
    const c = clock();
    const spent: string[] = [];
    let cookieRefreshes = 0;
    const session = new Session({
      refresh: async (refreshToken) => {
        spent.push(refreshToken);
        return { accessToken: 'moved', expiresIn: 900, user };
      },
      refreshWithCookie: async () => {
        cookieRefreshes += 1;
        return { accessToken: 'from-cookie', expiresIn: 900, user };
      },
      tokens: tokens(c.now(), 1_000),
      now: c.now,
    });
    expect(await session.getToken()).toBe('moved');
    expect(spent).toEqual(['refresh-0']);
    expect(session.tokens?.refreshToken).toBeUndefined();
    expect(await session.getToken({ forceRefresh: true })).toBe('from-cookie');
    expect(cookieRefreshes).toBe(1);
  });

  it('signs out a cookie-mode session whose cookie is refused', async () => {
    const session = new Session({
      refreshWithCookie: () => Promise.reject(new ChatError('invalid_refresh_token')),
      tokens: { accessToken: '', expiresAt: 0, user },
    });
    await expect(session.getToken()).rejects.toMatchObject({ code: 'invalid_refresh_token' });
    expect(session.tokens).toBeNull();
  });

  it('refuses to hand out a token when signed out', async () => {
    const session = new Session({ refresh: refresher().refresh });
    await expect(session.getToken()).rejects.toMatchObject({ code: 'unauthorized' });
  });
});

describe('parseSessionTokens', () => {
  it('reads persisted tokens back', () => {
    const value = JSON.parse(JSON.stringify(tokens(5, 5)));
    expect(parseSessionTokens(value)).toEqual(tokens(5, 5));
  });

  it.each([
    null,
    'x',
    {},
    { accessToken: 'a', refreshToken: 'r' },
    { accessToken: 'a', refreshToken: 1, expiresAt: 1 },
  ])('gives null for malformed input %j', (value) => {
    expect(parseSessionTokens(value)).toBeNull();
  });
});
