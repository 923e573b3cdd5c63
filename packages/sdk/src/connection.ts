import {
  BEARER_SUBPROTOCOL_PREFIX,
  ChatError,
  type ClientFrame,
  type ConnectionLimits,
  type ServerFrame,
  SUBPROTOCOL,
  toChatError,
} from '@relay-chat/protocol';
import { Backoff, type BackoffOptions } from './backoff.js';
import {
  type ConnectionState,
  closeDisposition,
  type StateChange,
  type StateReason,
} from './connection-state.js';
import { Emitter } from './emitter.js';
import { readServerFrame } from './frame-reader.js';
import { type TokenProvider, tokenExpiryMs } from './token.js';
import { type WebSocketConstructor, type WebSocketLike, WS_OPEN } from './websocket.js';

export interface ConnectionEvents {
  state: StateChange;
  /** Every server frame except `pong` and replies to the connection's own `auth` frames. */
  frame: ServerFrame;
  /** Problems that do not end the connection: an unreadable frame, a failed token renewal. */
  error: ChatError;
}

export interface ConnectionOptions {
  /** Gateway URL(s), e.g. `ws://localhost:8080/ws`. A list is failed over in turn: each attempt after a failure uses the next. */
  url: string | readonly string[];
  WebSocket: WebSocketConstructor;
  getToken: TokenProvider;
  /** Reconnect delays (full jitter). Defaults: base 500 ms, max 30 s. */
  backoff?: BackoffOptions;
  /** Send `ping` after this long without any frame from the server; 0 disables the heartbeat. Default 25_000 ms. */
  pingIntervalMs?: number;
  /** Declare the connection dead when nothing arrives this long after a ping. Default 10_000 ms. */
  pongTimeoutMs?: number;
  /** Give up on an attempt that has not reached `ready` after this long. Default 15_000 ms. */
  connectTimeoutMs?: number;
  /** Send a fresh token (`auth` frame) this long before the current one expires. Default 60_000 ms. */
  renewBeforeExpiryMs?: number;
  /** Consecutive authentication rejections after which the connection closes for good. Default 3. */
  maxAuthRejections?: number;
  /** For tests. */
  random?: () => number;
}

const MAX_TIMER_MS = 2_147_483_647;
/** Pace before a server announces its limits: well inside the protocol's default frame budget (50/s, 100 at once). */
const DEFAULT_PACE = { perSec: 40, burst: 40 };
const noop = (): void => {};

/**
 * One logical connection to the gateway: opens sockets (token in the subprotocol list),
 * reconnects with full-jitter backoff across the URL list, checks liveness with `ping`, and
 * renews the token before it expires. Knows nothing of messages: ChatClient builds on it.
 */
export class Connection {
  readonly #events = new Emitter<ConnectionEvents>();
  readonly #urls: readonly string[];
  readonly #WebSocket: WebSocketConstructor;
  readonly #getToken: TokenProvider;
  readonly #backoff: Backoff;
  readonly #pingIntervalMs: number;
  readonly #pongTimeoutMs: number;
  readonly #connectTimeoutMs: number;
  readonly #renewBeforeMs: number;
  readonly #maxAuthRejections: number;

  #state: ConnectionState = 'idle';
  #urlIndex = 0;
  #connectionId = 0;
  #socket: WebSocketLike | undefined;
  #ready = false;
  #token = '';
  #handshakeStatus: number | undefined;
  #forceRefresh = false;
  #refreshedThisOutage = false;
  #authRejections = 0;
  #skewMs = 0;
  #lastRxAt = 0;
  #pingSentAt: number | undefined;
  #refCounter = 0;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #connectTimer: ReturnType<typeof setTimeout> | undefined;
  #renewTimer: ReturnType<typeof setTimeout> | undefined;
  #heartbeatTimer: ReturnType<typeof setInterval> | undefined;
  /** Frames waiting for the pace; dropped with the socket they were meant for. */
  #outQueue: ClientFrame[] = [];
  #pace = DEFAULT_PACE;
  #tokens = DEFAULT_PACE.burst;
  #tokensAt = 0;
  #paceTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(options: ConnectionOptions) {
    this.#urls = typeof options.url === 'string' ? [options.url] : [...options.url];
    if (this.#urls.length === 0)
      throw new ChatError('validation_failed', 'at least one gateway URL is needed');
    this.#WebSocket = options.WebSocket;
    this.#getToken = options.getToken;
    this.#backoff = new Backoff(options.backoff, options.random);
    this.#pingIntervalMs = options.pingIntervalMs ?? 25_000;
    this.#pongTimeoutMs = options.pongTimeoutMs ?? 10_000;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 15_000;
    this.#renewBeforeMs = options.renewBeforeExpiryMs ?? 60_000;
    this.#maxAuthRejections = options.maxAuthRejections ?? 3;
  }

  on<K extends keyof ConnectionEvents>(
    event: K,
    listener: (payload: ConnectionEvents[K]) => void,
  ): () => void {
    return this.#events.on(event, listener);
  }

  get state(): ConnectionState {
    return this.#state;
  }

  /** The URL of the current (or next) attempt. */
  get url(): string {
    return this.#urls[this.#urlIndex] ?? '';
  }

  /** Identifies the current socket; changes with every attempt. */
  get connectionId(): number {
    return this.#connectionId;
  }

  /** Starts connecting (from `idle` or `closed`); no-op otherwise. */
  start(): void {
    if (this.#state !== 'idle' && this.#state !== 'closed') return;
    this.#backoff.reset();
    this.#authRejections = 0;
    this.#setState('connecting', { kind: 'connect' });
    void this.#attempt();
  }

  /** Closes the socket and stops reconnecting. */
  stop(): void {
    if (this.#state === 'idle' || this.#state === 'closed') return;
    this.#teardown(1000, 'client closed');
    this.#setState('closed', { kind: 'client_closed' });
  }

  /** While waiting to reconnect, try now (e.g. the browser went back online). */
  reconnectNow(): void {
    if (this.#state !== 'reconnecting' || this.#retryTimer === undefined) return;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#setState('reconnecting', { kind: 'reconnect_requested' }, { retryInMs: 0 });
    void this.#attempt();
  }

  /**
   * Writes a frame when the connection is `open` — at once, or shortly after when the
   * connection is at the server's frame budget (frames keep their order); false (nothing
   * written) otherwise. A frame still waiting when the socket drops is dropped with it.
   */
  send(frame: ClientFrame): boolean {
    if (!this.#ready || this.#socket?.readyState !== WS_OPEN) return false;
    this.#outQueue.push(frame);
    this.#drain();
    return true;
  }

  /** Writes queued frames while the pace allows, then waits for the next token. */
  #drain(): void {
    const now = Date.now();
    this.#tokens = Math.min(
      this.#pace.burst,
      this.#tokens + ((now - this.#tokensAt) / 1000) * this.#pace.perSec,
    );
    this.#tokensAt = now;
    while (this.#outQueue.length > 0 && this.#tokens >= 1) {
      this.#tokens -= 1;
      this.#write(this.#outQueue.shift()!);
    }
    if (this.#outQueue.length === 0 || this.#paceTimer !== undefined) return;
    const waitMs = Math.ceil(((1 - this.#tokens) / this.#pace.perSec) * 1000);
    this.#paceTimer = setTimeout(() => {
      this.#paceTimer = undefined;
      this.#drain();
    }, waitMs);
  }

  /** Paces below the server's announced frame budget (a margin for network jitter). */
  #setPace(limits: ConnectionLimits | undefined): void {
    if (!limits) return;
    this.#pace = {
      perSec: Math.max(1, limits.framesPerSec * 0.8),
      burst: Math.max(1, Math.floor(limits.framesBurst / 2)),
    };
    this.#tokens = Math.min(this.#tokens, this.#pace.burst);
  }

  async #attempt(): Promise<void> {
    this.#teardown();
    const id = this.#connectionId;
    const url = this.url;
    let token: string;
    try {
      token = await this.#getToken({ forceRefresh: this.#forceRefresh });
    } catch (err) {
      if (id !== this.#connectionId || this.#state === 'closed') return;
      const error = toChatError(err);
      const reason: StateReason = { kind: 'token_failed', error };
      if (error.retryable) this.#retry(reason);
      else this.#fail(reason, error);
      return;
    }
    if (id !== this.#connectionId || this.#state === 'closed') return;
    this.#forceRefresh = false;
    let socket: WebSocketLike;
    try {
      socket = new this.#WebSocket(url, [SUBPROTOCOL, BEARER_SUBPROTOCOL_PREFIX + token]);
    } catch (err) {
      const error = new ChatError('bad_request', `cannot open a WebSocket to ${url}`, { cause: err });
      this.#fail({ kind: 'socket_error', url, error }, error);
      return;
    }
    this.#socket = socket;
    this.#token = token;
    this.#handshakeStatus = undefined;
    socket.onopen = noop;
    socket.onmessage = (event) => this.#onData(id, event.data);
    socket.onerror = (event) => this.#onSocketError(id, event);
    socket.onclose = (event) => this.#onSocketClose(id, url, event.code, event.reason);
    this.#connectTimer = setTimeout(
      () => this.#abandon(id, { kind: 'connect_timeout', url }),
      this.#connectTimeoutMs,
    );
  }

  #onData(id: number, data: unknown): void {
    if (id !== this.#connectionId) return;
    this.#lastRxAt = Date.now();
    this.#pingSentAt = undefined;
    const result = readServerFrame(data);
    if (result.kind === 'invalid') {
      this.#events.emit('error', new ChatError('invalid_frame', `server frame ignored: ${result.reason}`));
      return;
    }
    if (result.kind === 'unknown') return;
    const frame = result.frame;
    if (frame.type === 'pong') {
      if (typeof frame.serverTime === 'number') this.#skewMs = frame.serverTime - Date.now();
      return;
    }
    if (frame.type === 'error' && frame.ref?.startsWith('auth:')) {
      // The renewed token was refused: the next attempt must not reuse a cached one.
      this.#forceRefresh = true;
      this.#events.emit('error', new ChatError(frame.code, frame.message));
      return;
    }
    if (frame.type === 'ready') {
      this.#setPace(frame.limits);
      this.#onReady(id, frame.serverTime);
    }
    this.#events.emit('frame', frame);
  }

  #onReady(id: number, serverTime: number): void {
    clearTimeout(this.#connectTimer);
    this.#connectTimer = undefined;
    this.#ready = true;
    this.#backoff.reset();
    this.#authRejections = 0;
    this.#refreshedThisOutage = false;
    this.#skewMs = serverTime - Date.now();
    this.#startHeartbeat(id);
    this.#scheduleRenewal(id);
    this.#setState('open', { kind: 'ready', url: this.url });
  }

  #onSocketError(id: number, event: unknown): void {
    if (id !== this.#connectionId) return;
    // `ws` reports a refused upgrade as "Unexpected server response: 401"; browsers say nothing.
    const match = /Unexpected server response: (\d{3})/.exec(messageOf(event));
    if (match) this.#handshakeStatus = Number(match[1]);
  }

  #onSocketClose(id: number, url: string, code: number, reason: string): void {
    if (id !== this.#connectionId || this.#state === 'closed') return;
    const wasOpen = this.#ready;
    this.#teardown();
    const disposition = closeDisposition(code, reason);
    const errorCode = this.#handshakeStatus === 401 ? 'unauthorized' : disposition.errorCode;
    const stateReason: StateReason = {
      kind: 'socket_closed',
      url,
      code,
      reason,
      wasOpen,
      ...(errorCode === undefined ? {} : { errorCode }),
    };
    if (disposition.fatal) {
      this.#fail(stateReason, new ChatError(errorCode ?? 'forbidden'));
      return;
    }
    if (disposition.authRejected || this.#handshakeStatus === 401) {
      this.#authRejections += 1;
      this.#forceRefresh = true;
      if (this.#authRejections >= this.#maxAuthRejections) {
        this.#fail(stateReason, new ChatError(errorCode ?? 'unauthorized'));
        return;
      }
    } else if (!wasOpen && this.#handshakeStatus === undefined && !this.#refreshedThisOutage) {
      // A browser cannot tell a refused token from a network failure: refresh once per outage.
      this.#forceRefresh = true;
      this.#refreshedThisOutage = true;
    }
    this.#advanceUrl();
    this.#retry(stateReason);
  }

  /** Gives up on the current socket without waiting for its close handshake (which a dead peer never completes). */
  #abandon(id: number, reason: StateReason): void {
    if (id !== this.#connectionId || this.#state === 'closed') return;
    this.#teardown(1000, reason.kind);
    this.#advanceUrl();
    this.#retry(reason);
  }

  #retry(reason: StateReason): void {
    const delay = this.#backoff.next();
    this.#setState('reconnecting', reason, { retryInMs: delay, attempt: this.#backoff.attempt });
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      void this.#attempt();
    }, delay);
  }

  #fail(reason: StateReason, error: ChatError): void {
    this.#teardown(1000, 'client closed');
    this.#setState('closed', reason, { error });
  }

  #advanceUrl(): void {
    this.#urlIndex = (this.#urlIndex + 1) % this.#urls.length;
  }

  #startHeartbeat(id: number): void {
    if (this.#pingIntervalMs <= 0) return;
    this.#lastRxAt = Date.now();
    this.#pingSentAt = undefined;
    const tickMs = Math.max(50, Math.floor(Math.min(this.#pingIntervalMs, this.#pongTimeoutMs) / 4));
    this.#heartbeatTimer = setInterval(() => {
      const now = Date.now();
      if (this.#pingSentAt !== undefined) {
        if (now - this.#pingSentAt >= this.#pongTimeoutMs) {
          this.#abandon(id, { kind: 'heartbeat_timeout', url: this.url });
        }
      } else if (now - this.#lastRxAt >= this.#pingIntervalMs) {
        this.#pingSentAt = now;
        this.#write({ type: 'ping', ref: `hb:${++this.#refCounter}` });
      }
    }, tickMs);
  }

  #scheduleRenewal(id: number): void {
    clearTimeout(this.#renewTimer);
    this.#renewTimer = undefined;
    const expiry = tokenExpiryMs(this.#token);
    if (expiry === undefined) return;
    // `exp` is by the server's clock; convert to ours.
    const delay = expiry - this.#skewMs - this.#renewBeforeMs - Date.now();
    this.#renewTimer = setTimeout(() => void this.#renew(id), Math.min(Math.max(0, delay), MAX_TIMER_MS));
  }

  async #renew(id: number): Promise<void> {
    const current = this.#token;
    let token: string;
    try {
      token = await this.#getToken({ forceRefresh: false });
      if ((tokenExpiryMs(token) ?? 0) <= (tokenExpiryMs(current) ?? 0)) {
        token = await this.#getToken({ forceRefresh: true });
      }
    } catch (err) {
      if (id !== this.#connectionId || !this.#ready) return;
      const error = toChatError(err);
      this.#events.emit('error', error);
      // Not retryable: let the session run out; the server closes it with token_expired and
      // the reconnect's getToken fails the connection for good.
      if (error.retryable) {
        const delay = Math.max(1_000, Math.floor(this.#renewBeforeMs / 6));
        this.#renewTimer = setTimeout(() => void this.#renew(id), delay);
      }
      return;
    }
    if (id !== this.#connectionId || !this.#ready) return;
    // A provider that hands back no later token (a fixed test token) would loop here.
    if ((tokenExpiryMs(token) ?? 0) <= (tokenExpiryMs(current) ?? 0)) return;
    this.#token = token;
    this.#write({ type: 'auth', token, ref: `auth:${++this.#refCounter}` });
    this.#scheduleRenewal(id);
  }

  #write(frame: ClientFrame): boolean {
    const socket = this.#socket;
    if (!socket || socket.readyState !== WS_OPEN) return false;
    try {
      socket.send(JSON.stringify(frame));
      return true;
    } catch {
      return false;
    }
  }

  /** Drops the current socket (closing it if asked) and every timer; invalidates its callbacks. */
  #teardown(closeCode?: number, closeReason?: string): void {
    this.#connectionId += 1;
    this.#ready = false;
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#connectTimer);
    clearTimeout(this.#renewTimer);
    clearInterval(this.#heartbeatTimer);
    clearTimeout(this.#paceTimer);
    this.#retryTimer =
      this.#connectTimer =
      this.#renewTimer =
      this.#heartbeatTimer =
      this.#paceTimer =
        undefined;
    this.#outQueue = [];
    const socket = this.#socket;
    this.#socket = undefined;
    if (!socket) return;
    // Keep no-op handlers: `ws` throws on an 'error' event nobody listens to.
    socket.onopen = socket.onmessage = socket.onerror = socket.onclose = noop;
    if (closeCode !== undefined) {
      try {
        socket.close(closeCode, closeReason);
      } catch {
        // Already closing or closed.
      }
    }
  }

  #setState(state: ConnectionState, reason: StateReason, extra: Partial<StateChange> = {}): void {
    const previous = this.#state;
    this.#state = state;
    this.#events.emit('state', { state, previous, reason, ...extra });
  }
}

function messageOf(value: unknown): string {
  if (typeof value !== 'object' || value === null) return '';
  const { message, error } = value as { message?: unknown; error?: unknown };
  if (typeof message === 'string') return message;
  if (error instanceof Error) return error.message;
  return '';
}
