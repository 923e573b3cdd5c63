import type { User } from '@relay-chat/protocol';
import { ApiClient, AuthApi, parseSessionTokens, Session, type SessionTokens } from '@relay-chat/sdk';

/** The localStorage key holding the session (`{accessToken, refreshToken, expiresAt, user}`). */
export const SESSION_STORAGE_KEY = 'relay-chat.session';

/**
 * Sign-in state of this browser: the SDK Session (token manager) persisted in localStorage so
 * a reload stays signed in, shared across tabs (a refresh in one tab is adopted by the others
 * under a Web Lock, a logout in one signs all out).
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
    this.session = new Session({
      refresh: (refreshToken) => tokenless.refresh(refreshToken),
      tokens: readStored(),
      load: readStored,
      lock: webLock,
    });
    this.api = new ApiClient({ baseUrl, getToken: this.session.getToken });
    this.authApi = new AuthApi(this.api);
    this.#user = this.session.user ?? null;
    this.session.onChange((tokens) => {
      writeStored(tokens);
      this.#setUser(tokens?.user ?? null);
    });
    window.addEventListener('storage', (event) => {
      if (event.key !== SESSION_STORAGE_KEY) return;
      const tokens = event.newValue ? parseSessionTokens(safeParse(event.newValue)) : null;
      const current = this.session.tokens;
      if (tokens?.refreshToken !== current?.refreshToken) this.session.replace(tokens);
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
    const pair = await this.authApi.login(username, password);
    this.session.set(pair);
  }

  async register(username: string, password: string): Promise<void> {
    await this.authApi.register(username, password);
    await this.login(username, password);
  }

  /** Ends the session on the server (the refresh token is spent), then here. */
  async logout(): Promise<void> {
    const refreshToken = this.session.tokens?.refreshToken;
    try {
      if (refreshToken) await this.authApi.logout(refreshToken);
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

function readStored(): SessionTokens | null {
  try {
    const raw = window.localStorage.getItem(SESSION_STORAGE_KEY);
    return raw ? parseSessionTokens(safeParse(raw)) : null;
  } catch {
    return null;
  }
}

function writeStored(tokens: SessionTokens | null): void {
  try {
    if (tokens) window.localStorage.setItem(SESSION_STORAGE_KEY, JSON.stringify(tokens));
    else window.localStorage.removeItem(SESSION_STORAGE_KEY);
  } catch {
    // Private mode or full storage: the session still works until the tab closes.
  }
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
