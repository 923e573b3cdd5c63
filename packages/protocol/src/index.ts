// Everything clients use (errors, constants, types) plus the schemas and validators only
// servers need. Browser bundles get `client.ts` alone (package.json, `browser` condition).
export * from './client.js';
export {
  AuthFrame,
  DeleteFrame,
  EditFrame,
  PingFrame,
  parseClientFrame,
  ReactFrame,
  ReadFrame,
  SendFrame,
  TypingFrame,
} from './frames.js';
export {
  ChannelListing,
  Conversation,
  ConversationIdSchema,
  ConversationKind,
  ErrorResponse,
  Id,
  Message,
  MessageIdSchema,
  PresenceStatus,
  Reaction,
  SearchHit,
  SearchResponse,
  TokenPair,
  User,
  UserIdSchema,
} from './models.js';
