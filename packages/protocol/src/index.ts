// Everything clients use (errors, constants, types) plus the schemas and validators only
// servers need. Browser bundles get `client.ts` alone (package.json, `browser` condition).
export * from './client.js';
export {
  AuthFrame,
  PingFrame,
  parseClientFrame,
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
  TokenPair,
  User,
  UserIdSchema,
} from './models.js';
