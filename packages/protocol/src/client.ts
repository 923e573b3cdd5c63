/**
 * What clients need at run time — errors, codes, limits, constants — and every type, without
 * the TypeBox schemas and validators the servers use. Bundlers pick this entry for
 * `@relay-chat/protocol` under the `browser` condition (see package.json), which keeps the
 * schema library out of the web client. Import a schema or `parseClientFrame` in browser
 * code and the build fails: they are server-side.
 */
export {
  BEARER_SUBPROTOCOL_PREFIX,
  LIMITS,
  MEMBERS_PREVIEW,
  PROTOCOL_VERSION,
  SUBPROTOCOL,
  SYSTEM_USER_ID,
  USERNAME_PATTERN,
} from './constants.js';
export {
  ChatError,
  closeCodeOf,
  ERROR_CODE_LIST,
  ERROR_CODES,
  type ErrorBody,
  type ErrorCode,
  errorCodeOfClose,
  type FieldIssue,
  httpStatusOf,
  isErrorBody,
  isErrorCode,
  isRetryable,
  toChatError,
} from './errors.js';
export type {
  AckFrame,
  AuthFrame,
  ChangeAckFrame,
  ChangeFrame,
  ClientFrame,
  ClientFrameType,
  ConnectionLimits,
  ConversationEvent,
  ConversationFrame,
  DeleteFrame,
  EditFrame,
  ErrorFrame,
  MessageFrame,
  ParseResult,
  PingFrame,
  PongFrame,
  PresenceFrame,
  ReactFrame,
  ReadEventFrame,
  ReadFrame,
  ReadyFrame,
  SendFrame,
  ServerFrame,
  ServerFrameType,
  TypingEventFrame,
  TypingFrame,
} from './frames.js';
export {
  asConversationId,
  asMessageId,
  asUserId,
  type Brand,
} from './ids.js';
export type {
  ChannelListing,
  Conversation,
  ConversationId,
  ConversationKind,
  Message,
  MessageId,
  PresenceStatus,
  Reaction,
  SearchHit,
  SearchResponse,
  TokenPair,
  User,
  UserId,
} from './models.js';
export {
  clientMsgIdProblem,
  MESSAGE_TEXT_PATTERN,
  messageBodyProblem,
  NAME_PATTERN,
  normalizeName,
  normalizeTopic,
  reactionProblem,
  truncateText,
} from './text.js';
