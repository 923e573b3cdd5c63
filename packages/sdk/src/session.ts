import { asUserId, ChatError, type TokenPair, toChatError, type User } from '@relay-chat/protocol';
import { fullJitterDelay } from './backoff.js';
import { Emitter } from './emitter.js';
import type { TokenRequest } from './token.js';

/** What a Session holds (and what an app persists, e.g. as JSON in localStorage). */
export interface SessionTokens {
  accessToken: string;
  /** Absent in cookie mode: the refresh token is an HttpOnly cookie the app never sees. */
  refreshToken?: string;
  /** When the access token expires: ms since the epoch by the local clock (from `expiresIn`, so server clock skew does not matter). */
  expiresAt: number;
  user?: User;
}

export interface SessionOptions {
  /** Spends a refresh token for a new pair, e.g. `(t) => authApi.refresh(t)`. Used while the tokens have a refreshToken. */
  refresh?: (refreshToken: string) => Promise<TokenPair>;
  /**
   * Refreshes a cookie-mode session (tokens without a refreshToken), e.g.
   * `() => authApi.refreshWithCookie()`.
   */
  refreshWithCookie?: () => Promise<TokenPair>;
  /** Tokens to start with (restored from storage); null or omitted = signed out. */
  tokens?: SessionTokens | null;
  /** Refresh when the access token has less than this left, in ms. Default 60_000. */
  refreshBeforeMs?: number;
  /** Also refresh on a timer at that point, without waiting to be asked. Default false. */
  autoRefresh?: boolean;
  /**
   * Reads the persisted tokens just before refreshing: when another tab already refreshed
   * (the stored refresh token differs), its tokens are adopted instead of spending ours again
   * (a spent refresh token presented twice revokes the whole family).
   */
  load?: () => SessionTokens | null;
  /**
   * Runs a refresh under a lock shared by every tab, e.g.
   * `(task) => navigator.locks.request('relay-chat-refresh', task)`. Default: no lock.
   */
  lock?: <T>(task: () => Promise<T>) => Promise<T>;
  now?: () => number;
}

interface SessionEvents {
  change: SessionTokens | null;
}

/**
 * The token manager: stores `{accessToken, refreshToken, expiresAt}`, hands out an access
 * token that has at least `refreshBeforeMs` left (refreshing first when needed), runs one
 * refresh at a time (concurrent callers share it), and notifies every change so the app can
 * persist it. A refresh refused for good (`invalid_refresh_token`) signs the session out.
 *
 * `getToken` is a TokenProvider: pass it to ChatClient and ApiClient.
 */
export class Session {
  readonly #events = new Emitter<SessionEvents>();
  readonly #refresh: ((refreshToken: string) => Promise<TokenPair>) | undefined;
  readonly #refreshWithCookie: (() => Promise<TokenPair>) | undefined;
  readonly #refreshBeforeMs: number;
  readonly #autoRefresh: boolean;
  readonly #load: (() => SessionTokens | null) | undefined;
  readonly #lock: (<T>(task: () => Promise<T>) => Promise<T>) | undefined;
  readonly #now: () => number;
  #tokens: SessionTokens | null;
  #inflight: Promise<SessionTokens> | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerFailures = 0;

  constructor(options: SessionOptions) {
    this.#refresh = options.refresh;
    this.#refreshWithCookie = options.refreshWithCookie;
    this.#refreshBeforeMs = options.refreshBeforeMs ?? 60_000;
    this.#autoRefresh = options.autoRefresh ?? false;
    this.#load = options.load;
    this.#lock = options.lock;
    this.#now = options.now ?? Date.now;
    this.#tokens = options.tokens ?? null;
    this.#arm();
  }

  get tokens(): SessionTokens | null {
    return this.#tokens;
  }

  get user(): User | undefined {
    return this.#tokens?.user;
  }

  get signedIn(): boolean {
    return this.#tokens !== null;
  }

  /** Subscribes to every change (new tokens, or null when signed out); returns the unsubscribe function. */
  onChange(listener: (tokens: SessionTokens | null) => void): () => void {
    return this.#events.on('change', listener);
  }

  /** Stores a pair from login or refresh. */
  set(pair: TokenPair): SessionTokens {
    const tokens: SessionTokens = {
      accessToken: pair.accessToken,
      expiresAt: this.#now() + pair.expiresIn * 1000,
      user: pair.user,
    };
    if (pair.refreshToken !== undefined) tokens.refreshToken = pair.refreshToken;
    this.replace(tokens);
    return tokens;
  }

  /** Replaces the tokens as they are (another tab changed storage), or signs out with null. */
  replace(tokens: SessionTokens | null): void {
    if (tokens === this.#tokens) return;
    this.#tokens = tokens;
    this.#timerFailures = 0;
    this.#arm();
    this.#events.emit('change', tokens);
  }

  /** Signs out locally (the app calls AuthApi#logout to spend the refresh token too). */
  clear(): void {
    this.replace(null);
  }

  /** Stops the auto-refresh timer. */
  dispose(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /**
   * An access token with at least `refreshBeforeMs` left, refreshing first when needed, or
   * always with `forceRefresh`. Throws ChatError `unauthorized` when signed out. When a
   * routine (unforced) refresh fails for a transient reason, the current token is returned
   * while it is still valid.
   */
  readonly getToken = async (request: TokenRequest = { forceRefresh: false }): Promise<string> => {
    const tokens = this.#tokens;
    if (!tokens) throw new ChatError('unauthorized', 'not signed in');
    if (!request.forceRefresh && tokens.expiresAt - this.#now() > this.#refreshBeforeMs)
      return tokens.accessToken;
    try {
      return (await this.refresh()).accessToken;
    } catch (err) {
      const error = toChatError(err);
      const current = this.#tokens;
      if (!request.forceRefresh && error.retryable && current && current.expiresAt > this.#now()) {
        return current.accessToken;
      }
      throw error;
    }
  };

  /** Refreshes now; concurrent calls share one request. */
  refresh(): Promise<SessionTokens> {
    if (!this.#inflight) {
      const task = () => this.#refreshOnce();
      this.#inflight = (this.#lock ? this.#lock(task) : task()).finally(() => {
        this.#inflight = undefined;
      });
    }
    return this.#inflight;
  }

  async #refreshOnce(): Promise<SessionTokens> {
    const stored = this.#load?.();
    if (stored && this.#tokens && stored.refreshToken !== this.#tokens.refreshToken) {
      // Another tab refreshed while we waited for the lock: use its pair, spend nothing.
      this.replace(stored);
      if (stored.expiresAt - this.#now() > this.#refreshBeforeMs) return stored;
    }
    const current = this.#tokens;
    if (!current) throw new ChatError('unauthorized', 'not signed in');
    let pair: TokenPair;
    try {
      pair = await this.#exchange(current);
    } catch (err) {
      const error = toChatError(err);
      if (!error.retryable && this.#tokens === current) this.clear();
      throw error;
    }
    // Signed out or replaced meanwhile: do not resurrect the old session.
    if (this.#tokens !== current) {
      if (this.#tokens) return this.#tokens;
      throw new ChatError('unauthorized', 'signed out during refresh');
    }
    return this.set(pair);
  }

  #exchange(current: SessionTokens): Promise<TokenPair> {
    if (current.refreshToken !== undefined) {
      if (!this.#refresh) throw new ChatError('unauthorized', 'no refresh function for a refresh token');
      return this.#refresh(current.refreshToken);
    }
    if (!this.#refreshWithCookie)
      throw new ChatError('unauthorized', 'no refresh token and no cookie refresh');
    return this.#refreshWithCookie();
  }

  #arm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const tokens = this.#tokens;
    if (!this.#autoRefresh || !tokens) return;
    const dueInMs = Math.max(0, tokens.expiresAt - this.#refreshBeforeMs - this.#now());
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        this.refresh().catch((err: unknown) => {
          // Signed out (not retryable) disarms by itself; otherwise try again soon.
          if (toChatError(err).retryable && this.#tokens === tokens) {
            const retryInMs = fullJitterDelay(this.#timerFailures++, {
              baseDelayMs: 1_000,
              maxDelayMs: 30_000,
            });
            this.#timer = setTimeout(() => this.#arm(), retryInMs);
          }
        });
      },
      Math.min(dueInMs, 2_147_483_647),
    );
  }
}

/** Reads persisted tokens back (e.g. `parseSessionTokens(JSON.parse(localStorage.x))`); null when malformed. */
export function parseSessionTokens(value: unknown): SessionTokens | null {
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Record<string, unknown>;
  if (typeof v.accessToken !== 'string' || typeof v.refreshToken !== 'string') return null;
  if (typeof v.expiresAt !== 'number' || !Number.isFinite(v.expiresAt)) return null;
  const tokens: SessionTokens = {
    accessToken: v.accessToken,
    refreshToken: v.refreshToken,
    expiresAt: v.expiresAt,
  };
  const user = v.user as Record<string, unknown> | undefined;
  if (user && typeof user.id === 'string' && typeof user.username === 'string') {
    tokens.user = { id: asUserId(user.id), username: user.username };
  }
  return tokens;
}
