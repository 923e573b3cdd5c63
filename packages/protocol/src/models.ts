import Type, { type Static } from 'typebox';

import type { ConversationId, MessageId, UserId } from './ids.js';

export type { ConversationId, MessageId, UserId } from './ids.js';

/** Opaque identifiers (UUID strings today). */
export const Id = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' });
/** The same schema, typed as each kind of id (see ids.ts). */
export const UserIdSchema = Type.Unsafe<UserId>(Id);
export const ConversationIdSchema = Type.Unsafe<ConversationId>(Id);
export const MessageIdSchema = Type.Unsafe<MessageId>(Id);

export const User = Type.Object({ id: UserIdSchema, username: Type.String() });
export type User = Static<typeof User>;

export const ConversationKind = Type.Union([
  Type.Literal('dm'),
  Type.Literal('group'),
  Type.Literal('channel'),
]);
export type ConversationKind = Static<typeof ConversationKind>;

/** A message as stored and as shown. `ts` is milliseconds since the epoch, set by the server. */
export const Message = Type.Object({
  conv: ConversationIdSchema,
  seq: Type.Integer({ minimum: 1 }),
  id: MessageIdSchema,
  from: UserIdSchema,
  body: Type.String(),
  ts: Type.Integer(),
  clientMsgId: Type.Optional(Type.String()),
});
export type Message = Static<typeof Message>;

/**
 * One of the caller's conversations. `members` lists at most `MEMBERS_PREVIEW` members
 * (all of them for DMs and groups of that size); `memberCount` is exact.
 *
 * `createdBy` (the owner: who may rename a group or channel, set its topic, and add and
 * remove a group's members), `topic`, `muted` and `hidden` were added in protocol v1.1:
 * this server always sends them; they are optional in the type for clients that may talk
 * to an older server (absent means: no owner known, no topic, not muted, not hidden).
 * `lastReadSeq`, `unread`, `muted` and `hidden` are the caller's own.
 */
export const Conversation = Type.Object({
  id: ConversationIdSchema,
  kind: ConversationKind,
  name: Type.Union([Type.String(), Type.Null()]),
  /** Group and channel topic; null when none (always null for DMs). */
  topic: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  /** The creator; SYSTEM_USER_ID for conversations the server made (no owner). */
  createdBy: Type.Optional(UserIdSchema),
  lastSeq: Type.Integer({ minimum: 0 }),
  lastReadSeq: Type.Integer({ minimum: 0 }),
  unread: Type.Integer({ minimum: 0 }),
  memberCount: Type.Integer({ minimum: 0 }),
  members: Type.Array(User),
  lastMessage: Type.Union([Message, Type.Null()]),
  /** Milliseconds since the epoch of the last message, or of creation. */
  lastActivityAt: Type.Integer(),
  createdAt: Type.Integer(),
  /** The caller muted it: clients show no unread badge or notification for it, except for mentions. */
  muted: Type.Optional(Type.Boolean()),
  /** The caller hid this DM until its next message (only in a direct GET or a settings event). */
  hidden: Type.Optional(Type.Boolean()),
});
export type Conversation = Static<typeof Conversation>;

/** A public channel as listed in the directory. */
export const ChannelListing = Type.Object({
  id: ConversationIdSchema,
  name: Type.String(),
  memberCount: Type.Integer({ minimum: 0 }),
  joined: Type.Boolean(),
  lastActivityAt: Type.Integer(),
});
export type ChannelListing = Static<typeof ChannelListing>;

/**
 * Tokens returned by login and refresh. `expiresIn` is the access token's life in seconds.
 * `refreshToken` is there in body mode (the default: the client keeps it and sends it back);
 * in cookie mode (`session: "cookie"`, for browsers) it is absent, set instead as an HttpOnly
 * cookie that only the refresh route receives.
 */
export const TokenPair = Type.Object({
  accessToken: Type.String(),
  refreshToken: Type.Optional(
    Type.String({ description: 'body mode only; in cookie mode the HttpOnly relay_refresh cookie holds it' }),
  ),
  expiresIn: Type.Integer(),
  user: User,
});
export type TokenPair = Static<typeof TokenPair>;

export const PresenceStatus = Type.Union([Type.Literal('online'), Type.Literal('offline')]);
export type PresenceStatus = Static<typeof PresenceStatus>;

export const ErrorResponse = Type.Object({
  error: Type.Object({
    code: Type.String(),
    message: Type.String(),
    fields: Type.Optional(Type.Array(Type.Object({ field: Type.String(), message: Type.String() }))),
  }),
});
