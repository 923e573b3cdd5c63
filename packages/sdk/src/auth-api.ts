import { ChatError, type TokenPair, type User, type UserId } from '@relay-chat/protocol';
import { type ApiClient, expectArray, expectObject } from './api.js';

/** A page of the user directory. `nextCursor` is null on the last page. */
export interface UserPage {
  users: User[];
  nextCursor: string | null;
}

/** The auth service's routes (`/api/auth`). Every method throws ChatError on failure. */
export class AuthApi {
  readonly #client: ApiClient;

  constructor(client: ApiClient) {
    this.#client = client;
  }

  /** Creates an account. `username_taken`, `validation_failed` on failure. */
  async register(username: string, password: string): Promise<User> {
    const body = await this.#client.request<{ user: User }>('POST', '/api/auth/register', {
      body: { username, password },
      auth: false,
    });
    return expectObject(body?.user, 'user');
  }

  /** `invalid_credentials` for an unknown user or a wrong password; `rate_limited` when throttled. */
  login(username: string, password: string): Promise<TokenPair> {
    return this.#client
      .request<TokenPair>('POST', '/api/auth/login', { body: { username, password }, auth: false })
      .then(expectTokenPair);
  }

  /** Spends `refreshToken` for a new pair; `invalid_refresh_token` when it is unknown, expired or spent. */
  refresh(refreshToken: string): Promise<TokenPair> {
    return this.#client
      .request<TokenPair>('POST', '/api/auth/refresh', { body: { refreshToken }, auth: false })
      .then(expectTokenPair);
  }

  async logout(refreshToken: string): Promise<void> {
    await this.#client.request<void>('POST', '/api/auth/logout', { body: { refreshToken }, auth: false });
  }

  /** The signed-in user. */
  async me(): Promise<User> {
    const body = await this.#client.request<{ user?: User } & Partial<User>>('GET', '/api/auth/me');
    return expectObject(body?.user ?? (body?.id ? (body as User) : undefined), 'user');
  }

  /** The user directory: `q` is a username prefix; `limit` ≤ LIMITS.maxUsersPage. */
  async users(options: { q?: string; limit?: number; cursor?: string } = {}): Promise<UserPage> {
    const body = await this.#client.request<Partial<UserPage>>('GET', '/api/auth/users', {
      query: { ...options },
    });
    return { users: expectArray<User>(body?.users, 'users'), nextCursor: body?.nextCursor ?? null };
  }

  /** Looks users up by id (at most LIMITS.maxUsersPage per call); unknown ids are left out. */
  async usersByIds(ids: readonly UserId[]): Promise<User[]> {
    if (ids.length === 0) return [];
    const body = await this.#client.request<Partial<UserPage>>('GET', '/api/auth/users', {
      query: { ids: ids.join(',') },
    });
    return expectArray<User>(body?.users, 'users');
  }

  /** One user by id; `not_found` when there is none. */
  async user(id: UserId): Promise<User> {
    const body = await this.#client.request<{ user?: User }>(
      'GET',
      `/api/auth/users/${encodeURIComponent(id)}`,
    );
    return expectObject(body?.user, 'user');
  }
}

function expectTokenPair(body: TokenPair | undefined): TokenPair {
  if (!body || typeof body.accessToken !== 'string' || typeof body.refreshToken !== 'string') {
    throw new ChatError('internal', 'unexpected response: no token pair');
  }
  return body;
}
