export {
  ApiClient,
  type ApiClientOptions,
  buildUrl,
  codeForStatus,
  errorFromResponse,
  type FetchLike,
  type HttpMethod,
  type QueryValue,
  type RequestOptions,
} from './api.js';
export { AuthApi, type BodyTokenPair, type UserPage } from './auth-api.js';
export { Backoff, type BackoffOptions, DEFAULT_BACKOFF, fullJitterDelay } from './backoff.js';
export {
  type ChangeEvent,
  ChangeFeed,
  type ChangeFeedOptions,
  type ChangesFetcher,
  type ChangesPage,
} from './change-feed.js';
export { type ChangeRequest, ChangeRequests, type ChangeRequestsOptions } from './change-requests.js';
export { type ChangeEntry, ChangeSequencer } from './change-sequencer.js';
export {
  type ChangeResult,
  type ChangesResult,
  type ChannelPage,
  ChatApi,
  type ConversationChange,
  type ConversationSettings,
  type CreateConversationInput,
  type HistoryPage,
  type ReadMarker,
  type SearchOptions,
  type SendOptions,
  type SendResult,
  type ThreadPage,
} from './chat-api.js';
export { ChatClient } from './chat-client.js';
export type {
  ChatClientEvents,
  ChatClientOptions,
  ClientErrorEvent,
  ClientErrorSource,
} from './chat-client-options.js';
export { Connection, type ConnectionEvents, type ConnectionOptions } from './connection.js';
export {
  type CloseDisposition,
  type ConnectionState,
  closeDisposition,
  type StateChange,
  type StateReason,
} from './connection-state.js';
export { ConversationList } from './conversation-list.js';
export { Delivery, type DeliveryOptions, type GapEvent, type HistoryFetcher } from './delivery.js';
export { Emitter, type Listener, type ListenerErrorHandler } from './emitter.js';
export { type ReadResult, readServerFrame } from './frame-reader.js';
export { MentionTracker } from './mentions.js';
export { NewestStates } from './newest-states.js';
export {
  createClientMsgId,
  mentionsProblem,
  Outbox,
  type OutboxChange,
  type OutboxEntry,
  type OutboxStatus,
  type SendExtras,
  type SendHandle,
} from './outbox.js';
export { type OfferResult, Sequencer, type SequencerOptions } from './sequencer.js';
export { parseSessionTokens, Session, type SessionOptions, type SessionTokens } from './session.js';
export { type TokenProvider, type TokenRequest, tokenExpiryMs } from './token.js';
export {
  gatewayUrlOf,
  globalWebSocket,
  httpUrlOf,
  type WebSocketConstructor,
  type WebSocketLike,
} from './websocket.js';
