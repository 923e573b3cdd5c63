import { ChatError, type ErrorCode, isErrorBody } from '@relay-chat/protocol';
import type { TokenProvider } from './token.js';

/** `fetch` as the SDK calls it; the global one by default. */
export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export interface ApiClientOptions {
  /**
   * Where the server is, e.g. `http://localhost:8080` (routes are appended: `/api/auth/…`,
   * `/api/chat/…`); a function is asked before every request (ChatClient points it at the
   * gateway it is connected to).
   */
  baseUrl: string | (() => string);
  /** Bearer token for routes that need one; without it those routes answer 401. */
  getToken?: TokenProvider;
  fetch?: FetchLike;
  /** Per-request timeout in ms (answered with ChatError `unavailable`). Default 15_000. */
  timeoutMs?: number;
}

export type QueryValue = string | number | boolean | undefined | null;

export interface RequestOptions {
  query?: Record<string, QueryValue>;
  /** Sent as JSON. */
  body?: unknown;
  /** Send the bearer token. Default true. */
  auth?: boolean;
  signal?: AbortSignal;
}

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/**
 * JSON over fetch for the REST routes. Every failure is a ChatError: the server's typed
 * error body when there is one, a code derived from the status otherwise, `unavailable` for
 * network errors and timeouts. A 401 on an authenticated request is retried once with a
 * freshly refreshed token. An abort through the caller's own `signal` rethrows its reason.
 */
export class ApiClient {
  readonly #baseUrl: () => string;
  readonly #getToken: TokenProvider | undefined;
  readonly #fetch: FetchLike;
  readonly #timeoutMs: number;

  constructor(options: ApiClientOptions) {
    const { baseUrl } = options;
    this.#baseUrl = typeof baseUrl === 'function' ? baseUrl : () => baseUrl;
    this.#getToken = options.getToken;
    if (!options.fetch && typeof globalThis.fetch !== 'function') {
      throw new ChatError('validation_failed', 'no fetch implementation available: pass options.fetch');
    }
    // Called unbound, the browser's fetch throws "Illegal invocation".
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#timeoutMs = options.timeoutMs ?? 15_000;
  }

  /** Performs a request and returns the parsed JSON body (undefined for 204). */
  async request<T>(method: HttpMethod, path: string, options: RequestOptions = {}): Promise<T> {
    const auth = (options.auth ?? true) && this.#getToken !== undefined;
    const first = await this.#send(method, path, options, auth ? await this.#token(false) : undefined);
    // A refused token is retried once with a fresh one; a refused password (deleting the
    // account, say) is the caller's answer — retrying would count as a second failure.
    if (first.status === 401 && auth && (await errorCodeOf(first.clone())) !== 'invalid_credentials') {
      const retried = await this.#send(method, path, options, await this.#token(true));
      return this.#parse<T>(retried);
    }
    return this.#parse<T>(first);
  }

  async #token(forceRefresh: boolean): Promise<string> {
    if (!this.#getToken) return '';
    return this.#getToken({ forceRefresh });
  }

  async #send(method: HttpMethod, path: string, options: RequestOptions, token: string | undefined) {
    const url = buildUrl(this.#baseUrl(), path, options.query);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    const init: RequestInit = { method, headers };
    if (options.body !== undefined) {
      headers['content-type'] = 'application/json';
      init.body = JSON.stringify(options.body);
    }
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    init.signal = options.signal ? anySignal([options.signal, timeout]) : timeout;
    try {
      return await this.#fetch(url, init);
    } catch (err) {
      if (options.signal?.aborted) throw options.signal.reason ?? err;
      if (timeout.aborted) throw new ChatError('unavailable', `${method} ${path} timed out`, { cause: err });
      throw new ChatError('unavailable', `${method} ${path} failed: network error`, { cause: err });
    }
  }

  async #parse<T>(response: Response): Promise<T> {
    const text = await response.text().catch(() => '');
    if (!response.ok) throw errorFromResponse(response.status, text, response.headers.get('retry-after'));
    if (response.status === 204 || text === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      throw new ChatError('internal', 'the server answered with something that is not JSON', { cause: err });
    }
  }
}

/** The error code for an HTTP status whose body carries none (a proxy's 502, say). */
export function codeForStatus(status: number): ErrorCode {
  switch (status) {
    case 400:
      return 'bad_request';
    case 401:
      return 'unauthorized';
    case 403:
      return 'forbidden';
    case 404:
      return 'not_found';
    case 409:
      return 'conflict';
    case 413:
      return 'payload_too_large';
    case 415:
      return 'unsupported_media_type';
    case 429:
      return 'rate_limited';
    case 502:
    case 503:
    case 504:
      return 'unavailable';
    default:
      return status >= 500 ? 'internal' : 'bad_request';
  }
}

/** Builds the ChatError for a failed response from its status, body text and Retry-After header. Pure. */
/** The error code of an error answer, when its body has one. */
async function errorCodeOf(response: Response): Promise<string | undefined> {
  try {
    const body = (await response.json()) as { error?: { code?: unknown } };
    return typeof body?.error?.code === 'string' ? body.error.code : undefined;
  } catch {
    return undefined;
  }
}

export function errorFromResponse(status: number, bodyText: string, retryAfter: string | null): ChatError {
  const retryAfterSec = parseRetryAfter(retryAfter);
  const extra = retryAfterSec === undefined ? {} : { retryAfterSec };
  let body: unknown;
  try {
    body = JSON.parse(bodyText);
  } catch {
    body = undefined;
  }
  if (isErrorBody(body)) {
    const { code, message, fields } = body.error;
    return new ChatError(code, message, { ...extra, ...(fields ? { fields } : {}) });
  }
  return new ChatError(codeForStatus(status), `HTTP ${status}`, extra);
}

function parseRetryAfter(value: string | null): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

/** `base` + `path` + query, skipping undefined/null values. */
export function buildUrl(base: string, path: string, query?: Record<string, QueryValue>): string {
  let url = base.replace(/\/+$/, '') + path;
  if (query) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined && value !== null) params.set(key, String(value));
    }
    const qs = params.toString();
    if (qs) url += `?${qs}`;
  }
  return url;
}

function anySignal(signals: AbortSignal[]): AbortSignal {
  const any = (AbortSignal as { any?: (signals: AbortSignal[]) => AbortSignal }).any;
  if (any) return any(signals);
  const controller = new AbortController();
  for (const signal of signals) {
    if (signal.aborted) controller.abort(signal.reason);
    else signal.addEventListener('abort', () => controller.abort(signal.reason), { once: true });
  }
  return controller.signal;
}

/** Throws ChatError `internal` when a response lacks the expected object. */
export function expectObject<T>(value: T | undefined | null, what: string): T {
  if (typeof value !== 'object' || value === null)
    throw new ChatError('internal', `unexpected response: no ${what}`);
  return value;
}

/** Throws ChatError `internal` when a response lacks the expected array. */
export function expectArray<T>(value: unknown, what: string): T[] {
  if (!Array.isArray(value)) throw new ChatError('internal', `unexpected response: no ${what} list`);
  return value as T[];
}
