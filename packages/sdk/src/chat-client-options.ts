import type {
  AckFrame,
  ChatError,
  Conversation,
  ConversationEvent,
  ConversationId,
  Message,
  PresenceStatus,
  ReadyFrame,
  UserId,
} from '@relay-chat/protocol';
import type { FetchLike } from './api.js';
import type { BackoffOptions } from './backoff.js';
import type { ChangeEvent } from './change-feed.js';
import type { ChatApi } from './chat-api.js';
import type { StateChange } from './connection-state.js';
import type { GapEvent } from './delivery.js';
import type { ListenerErrorHandler } from './emitter.js';
import type { OutboxChange } from './outbox.js';
import type { TokenProvider } from './token.js';
import type { WebSocketConstructor } from './websocket.js';

/** Where an `error` event came from. */
export type ClientErrorSource = 'server' | 'send' | 'connection' | 'history' | 'conversations' | 'changes';

/** A problem that did not stop the client (those end in `state` → `closed` with an error). */
export interface ClientErrorEvent {
  error: ChatError;
  source: ClientErrorSource;
  /** The `ref` of the server's error frame (for `send`: the clientMsgId). */
  ref?: string;
}

/** Every ChatClient event and its payload. */
export interface ChatClientEvents {
  state: StateChange;
  /** After each (re)connect, once the conversation list is updated. */
  ready: ReadyFrame;
  /** Each (conv, seq) exactly once, in seq order per conversation. */
  message: Message;
  /** The server stored one of our sends. */
  ack: AckFrame;
  /** An outbox entry changed status (pending → sent | failed, failed → pending). */
  outbox: OutboxChange;
  typing: { conv: ConversationId; user: UserId };
  presence: { user: UserId; status: PresenceStatus };
  /** The caller read up to `seq` on another device. */
  read: { conv: ConversationId; seq: number };
  conversation: { event: ConversationEvent; conversation: Conversation; user?: UserId };
  error: ClientErrorEvent;
  gap: GapEvent;
  /**
   * v1.2: a message changed (edited, deleted, a reaction, a reply to it) — its whole new
   * state. Each (conv, changeSeq) at most once, in changeSeq order per conversation; a
   * catch-up may skip changeSeqs superseded by a later change of the same message.
   */
  change: ChangeEvent;
}

export interface ChatClientOptions {
  /** Gateway WebSocket URL(s), e.g. `ws://localhost:8080/ws` (see `gatewayUrlOf`); a list is failed over in turn. */
  url: string | readonly string[];
  getToken: TokenProvider;
  /** The WebSocket class; default the global one (browsers). In Node 20 pass `WebSocket` from `ws`. */
  WebSocket?: WebSocketConstructor;
  /** REST base, e.g. `http://localhost:8080`. Default: the gateway currently in use (ws→http, `/ws` dropped). */
  httpUrl?: string;
  /** A ready-made ChatApi (overrides httpUrl/fetch). */
  api?: ChatApi;
  fetch?: FetchLike;
  /** Reconnect delays (full jitter). Default base 500 ms, max 30 s. */
  reconnect?: BackoffOptions;
  /** See ConnectionOptions: defaults 25_000 / 10_000 / 15_000 / 60_000 ms. */
  pingIntervalMs?: number;
  pongTimeoutMs?: number;
  connectTimeoutMs?: number;
  renewBeforeExpiryMs?: number;
  /** History fetching for gaps (see DeliveryOptions): page size 200, gap wait 250 ms, 10_000 held, 4 at once. */
  history?: {
    pageSize?: number;
    gapWaitMs?: number;
    maxBufferedPerConversation?: number;
    maxConcurrentFetches?: number;
  };
  /** Catching up on changes (see ChangeFeedOptions): gap wait 200 ms, page size 200, 4 fetches at once. */
  changes?: {
    gapWaitMs?: number;
    pageSize?: number;
    maxConcurrentFetches?: number;
  };
  /** How long an edit/delete/react frame waits for its `change_ack` before going over REST. Default 5_000 ms. */
  changeTimeoutMs?: number;
  /** Last seq already seen per conversation (from `lastSeqs()` of an earlier run): delivery resumes after it. */
  resumeFrom?: Record<ConversationId, number>;
  /** Delays before resending after a retryable send error (rate_limited …). Default base 1_000 ms, max 30 s. */
  sendRetry?: BackoffOptions;
  /** At most one `typing` frame per conversation per this many ms. Default 2_000. */
  typingThrottleMs?: number;
  onListenerError?: ListenerErrorHandler;
}
