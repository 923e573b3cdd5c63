import { asUserId, type User } from '@relay-chat/protocol';
import { ApiClient, AuthApi, parseSessionTokens, Session, type SessionTokens } from '@relay-chat/sdk';

/**
 * The localStorage key holding who is signed in: `{user}` only. The refresh token is an
 * HttpOnly cookie (cookie mode) that no script can read, and the access token lives in memory,
 * so nothing stored here is worth stealing. (Older versions stored the whole token pair here;
 * such a session is moved into the cookie at start.)
 */
export const SESSION_STORAGE_KEY = 'relay-chat.session';

/**
 * Sign-in state of this browser: the SDK Session (token manager) in cookie mode. A reload, or
 * another tab, knows who is signed in from localStorage and gets its own access token through
 * the refresh cookie, which the browser shares between tabs. Refreshes run one at a time across
 * tabs under a Web Lock, so each sends the newest cookie (the server's grace window covers two
 * that still overlap); a logout in one tab signs all out, a login in one signs the others in.
 */
export class AuthSession {
  readonly session: Session;
  readonly authApi: AuthApi;
  /** REST client carrying the session's bearer token. */
  readonly api: ApiClient;
  readonly #listeners = new Set<() => void>();
  #user: User | null;

  constructor(baseUrl: string = window.location.origin) {
    const publicApi = new ApiClient({ baseUrl });
    const tokenless = new AuthApi(publicApi);
    const stored = readStored();
    this.session = new Session({
      // Only for a session stored by an older version (with its refresh token): moves it into the cookie.
      refresh: (legacyRefreshToken) => tokenless.moveSessionToCookie(legacyRefreshToken),
      refreshWithCookie: () => tokenless.refreshWithCookie(),
      tokens: stored,
      lock: webLock,
    });
    this.api = new ApiClient({ baseUrl, getToken: this.session.getToken });
    this.authApi = new AuthApi(this.api);
    this.#user = this.session.user ?? null;
    this.session.onChange((tokens) => {
      // A legacy session keeps its old entry until it has moved into the cookie.
      if (tokens?.refreshToken === undefined) writeStored(tokens?.user ?? null);
      this.#setUser(tokens?.user ?? null);
    });
    if (stored?.refreshToken !== undefined) {
      // Move it now rather than at the next refresh, so the token leaves storage at once.
      this.session.refresh().catch(() => {
        // Refused: the session is cleared (signed out). Unreachable: retried on the next refresh.
      });
    }
    window.addEventListener('storage', (event) => {
      if (event.key !== SESSION_STORAGE_KEY) return;
      const user = event.newValue ? userOf(safeParse(event.newValue)) : null;
      if (!user) {
        // Another tab signed out (and ended the session the cookie held).
        if (this.session.signedIn) this.session.replace(null);
      } else if (user.id !== this.#user?.id) {
        // Another tab signed in: the cookie is its session; fetch an access token through it.
        this.session.replace(signedInAs(user));
      }
    });
  }

  /** The signed-in user, or null. */
  getUser = (): User | null => this.#user;

  subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  };

  async login(username: string, password: string): Promise<void> {
    const pair = await this.authApi.loginWithCookie(username, password);
    this.session.set(pair);
  }

  async register(username: string, password: string): Promise<void> {
    await this.authApi.register(username, password);
    await this.login(username, password);
  }

  /** Ends the session on the server (the cookie's session is revoked and the cookie cleared), then here. */
  async logout(): Promise<void> {
    const legacyRefreshToken = this.session.tokens?.refreshToken;
    try {
      if (legacyRefreshToken) await this.authApi.logout(legacyRefreshToken);
      else await this.authApi.logoutWithCookie();
    } catch {
      // Signed out locally regardless: an unreachable server must not keep anyone signed in.
    } finally {
      this.session.clear();
    }
  }

  #setUser(user: User | null): void {
    if (user?.id === this.#user?.id) return;
    this.#user = user;
    for (const listener of [...this.#listeners]) listener();
  }
}

/**
 * Signed in as `user` with no access token yet: the first `getToken` refreshes through the
 * cookie (and signs out if the cookie is gone).
 */
function signedInAs(user: User): SessionTokens {
  return { accessToken: '', expiresAt: 0, user };
}

/** What storage says: who is signed in, or an older version's full token pair. */
function readStored(): SessionTokens | null {
  try {
    const raw = window.localStorage.getItem(SESSION_STORAGE_KEY);
    if (!raw) return null;
    const value = safeParse(raw);
    const legacy = parseSessionTokens(value);
    if (legacy) return legacy;
    const user = userOf(value);
    return user ? signedInAs(user) : null;
  } catch {
    return null;
  }
}

function writeStored(user: User | null): void {
  try {
    if (user) {
      const value = JSON.stringify({ user: { id: user.id, username: user.username } });
      // Unchanged values are not written again: other tabs get a storage event only for a real change.
      if (window.localStorage.getItem(SESSION_STORAGE_KEY) !== value) {
        window.localStorage.setItem(SESSION_STORAGE_KEY, value);
      }
    } else {
      window.localStorage.removeItem(SESSION_STORAGE_KEY);
    }
  } catch {
    // Private mode or full storage: the session still works until the tab closes.
  }
}

function userOf(value: unknown): User | null {
  const user = (value as { user?: Record<string, unknown> } | null)?.user;
  if (user && typeof user.id === 'string' && typeof user.username === 'string') {
    return { id: asUserId(user.id), username: user.username };
  }
  return null;
}

function safeParse(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return null;
  }
}

function webLock<T>(task: () => Promise<T>): Promise<T> {
  const locks = (navigator as Navigator & { locks?: LockManager }).locks;
  return locks ? (locks.request('relay-chat.refresh', task) as Promise<T>) : task();
}
