import { ChatError, type TokenPair, type User, type UserId } from '@relay-chat/protocol';
import { type ApiClient, expectArray, expectObject } from './api.js';

/** A page of the user directory. `nextCursor` is null on the last page. */
export interface UserPage {
  users: User[];
  nextCursor: string | null;
}

/** A token pair in body mode: the client holds the refresh token. */
export type BodyTokenPair = TokenPair & { refreshToken: string };

/**
 * The auth service's routes (`/api/auth`). Every method throws ChatError on failure.
 *
 * Two session modes. Body mode (`login`, `refresh`, `logout`): the refresh token comes in the
 * answer and the client keeps it — for servers, CLIs, apps with a secure store. Cookie mode
 * (`loginWithCookie`, `refreshWithCookie`, `logoutWithCookie`): the refresh token lives in an
 * HttpOnly cookie that script cannot read, sent only to the refresh route — for a browser app
 * served from the same site as the API (the browser keeps and sends the cookie by itself).
 */
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
  login(username: string, password: string): Promise<BodyTokenPair> {
    return this.#client
      .request<TokenPair>('POST', '/api/auth/login', { body: { username, password }, auth: false })
      .then(expectBodyTokenPair);
  }

  /** Spends `refreshToken` for a new pair; `invalid_refresh_token` when it is unknown, expired or spent. */
  refresh(refreshToken: string): Promise<BodyTokenPair> {
    return this.#client
      .request<TokenPair>('POST', '/api/auth/refresh', { body: { refreshToken }, auth: false })
      .then(expectBodyTokenPair);
  }

  async logout(refreshToken: string): Promise<void> {
    await this.#client.request<void>('POST', '/api/auth/logout', { body: { refreshToken }, auth: false });
  }

  /** Logs in in cookie mode: the answer has no refresh token, the browser keeps it as a cookie. */
  loginWithCookie(username: string, password: string): Promise<TokenPair> {
    return this.#client
      .request<TokenPair>('POST', '/api/auth/login', {
        body: { username, password, session: 'cookie' },
        auth: false,
      })
      .then(expectTokenPair);
  }

  /** Refreshes the cookie-mode session (the cookie is rotated); `invalid_refresh_token` when it is over. */
  refreshWithCookie(): Promise<TokenPair> {
    return this.#client
      .request<TokenPair>('POST', '/api/auth/refresh', { body: { session: 'cookie' }, auth: false })
      .then(expectTokenPair);
  }

  /**
   * Moves a body-mode session into cookie mode: spends `refreshToken` like `refresh`, but the
   * successor is set as the cookie instead of answered (a browser app upgrading a session it
   * kept in storage).
   */
  moveSessionToCookie(refreshToken: string): Promise<TokenPair> {
    return this.#client
      .request<TokenPair>('POST', '/api/auth/refresh', {
        body: { refreshToken, session: 'cookie' },
        auth: false,
      })
      .then(expectTokenPair);
  }

  /** Ends the cookie-mode session (its whole family) and clears the cookie. */
  async logoutWithCookie(): Promise<void> {
    await this.#client.request<void>('DELETE', '/api/auth/refresh', { auth: false });
  }

  /**
   * Deletes the signed-in account after checking its password: `invalid_credentials` for a
   * wrong one, `rate_limited` when throttled. Every session of the account ends.
   */
  async deleteAccount(password: string): Promise<void> {
    await this.#client.request<void>('DELETE', '/api/auth/me', { body: { password } });
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
  if (!body || typeof body.accessToken !== 'string') {
    throw new ChatError('internal', 'unexpected response: no token pair');
  }
  return body;
}

function expectBodyTokenPair(body: TokenPair | undefined): BodyTokenPair {
  const pair = expectTokenPair(body);
  if (typeof pair.refreshToken !== 'string') {
    throw new ChatError('internal', 'unexpected response: no refresh token');
  }
  return pair as BodyTokenPair;
}
