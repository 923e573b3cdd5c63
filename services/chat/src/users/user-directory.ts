import { ChatError, isErrorBody, type User, type UserId } from '@relay-chat/protocol';

/**
 * Usernames of users the chat service knows only by id. The auth service owns users;
 * chat asks it (over HTTP when deployed, in-process when embedded) and caches the answers
 * — usernames never change, so the cache never goes stale.
 */
export interface UserDirectory {
  /** The users among `ids` that exist. `token` is the caller's bearer token, for the HTTP look-up. */
  lookup(ids: readonly UserId[], token: string): Promise<Map<UserId, User>>;
  /** Remembers a user seen in a verified token (no look-up needed later). */
  remember(user: User): void;
}

/** Resolves ids with a function (embedded: the auth service in the same process). */
export class CachedUserDirectory implements UserDirectory {
  private readonly cache = new Map<UserId, User>();

  constructor(
    private readonly fetchUsers: (ids: UserId[], token: string) => Promise<User[]>,
    private readonly maxEntries = 100_000,
  ) {}

  remember(user: User): void {
    if (this.cache.size >= this.maxEntries) this.cache.clear();
    this.cache.set(user.id, user);
  }

  async lookup(ids: readonly UserId[], token: string): Promise<Map<UserId, User>> {
    const found = new Map<UserId, User>();
    const missing: UserId[] = [];
    for (const id of new Set(ids)) {
      const user = this.cache.get(id);
      if (user) found.set(id, user);
      else missing.push(id);
    }
    for (let i = 0; i < missing.length; i += 100) {
      for (const user of await this.fetchUsers(missing.slice(i, i + 100), token)) {
        this.remember(user);
        found.set(user.id, user);
      }
    }
    return found;
  }
}

/** Fetches users from the auth service's `GET /api/auth/users?ids=…`. */
export function httpUserFetcher(authUrl: string): (ids: UserId[], token: string) => Promise<User[]> {
  return async (ids, token) => {
    const url = new URL('/api/auth/users', authUrl);
    url.searchParams.set('ids', ids.join(','));
    let response: Response;
    try {
      response = await fetch(url, {
        headers: { authorization: `Bearer ${token}` },
        signal: AbortSignal.timeout(5000),
      });
    } catch (err) {
      throw new ChatError('unavailable', 'the auth service is unreachable', { cause: err });
    }
    const body = (await response.json().catch(() => undefined)) as { users?: User[] } | undefined;
    if (!response.ok) {
      if (isErrorBody(body) && body.error.code === 'token_expired') throw new ChatError('token_expired');
      throw new ChatError('unavailable', `user look-up failed with HTTP ${response.status}`);
    }
    return Array.isArray(body?.users) ? body.users : [];
  };
}
