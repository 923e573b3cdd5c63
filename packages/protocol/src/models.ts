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

/**
 * The reactions with one emoji on a message: how many reacted (exact) and who, in the order
 * they reacted (at most LIMITS.reactionUsersShown of them).
 */
export const Reaction = Type.Object({
  emoji: Type.String(),
  count: Type.Integer({ minimum: 1 }),
  users: Type.Array(UserIdSchema),
});
export type Reaction = Static<typeof Reaction>;

/**
 * A message as stored and as shown, in its current state. `ts` is milliseconds since the
 * epoch, set by the server.
 *
 * The fields after `clientMsgId` came with protocol v1.2 (messages that change). They are
 * **present only when they say something** — a message never edited has no `editedAt`, one
 * with no reactions no `reactions` — so two devices holding the same state hold the same
 * JSON, and an old server's messages read as plain ones:
 * - `replyTo`: the seq of the message this one answers (same conversation); `threadRoot`:
 *   the seq of that thread's first message (a reply to a reply belongs to the same root);
 * - `mentions`: the members it mentions, as user ids (the text holds `@username`);
 * - `editedAt`: when its body last changed;
 * - `deleted`: it was deleted — `body` is empty and it has no mentions or reactions; its
 *   seq stays (the sequence is gapless) and replies to it keep their `replyTo`;
 * - `reactions`: one entry per emoji, in the order each emoji was first used;
 * - `replyCount`, `lastReplyAt`: for a thread's root, how many replies it has and when the
 *   last came;
 * - `changeSeq`: the conversation's change counter at this message's last change (edit,
 *   delete, reaction, a reply to it); absent when it never changed. See docs/design-notes.md.
 */
export const Message = Type.Object({
  conv: ConversationIdSchema,
  seq: Type.Integer({ minimum: 1 }),
  id: MessageIdSchema,
  from: UserIdSchema,
  body: Type.String(),
  ts: Type.Integer(),
  clientMsgId: Type.Optional(Type.String()),
  replyTo: Type.Optional(Type.Integer({ minimum: 1 })),
  threadRoot: Type.Optional(Type.Integer({ minimum: 1 })),
  mentions: Type.Optional(Type.Array(UserIdSchema)),
  editedAt: Type.Optional(Type.Integer()),
  deleted: Type.Optional(Type.Literal(true)),
  reactions: Type.Optional(Type.Array(Reaction)),
  replyCount: Type.Optional(Type.Integer({ minimum: 1 })),
  lastReplyAt: Type.Optional(Type.Integer()),
  changeSeq: Type.Optional(Type.Integer({ minimum: 1 })),
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
  /**
   * Protocol v1.2: the conversation's change counter — how many edits, deletes, reaction
   * changes and reply-count changes its messages have had (gapless: 1, 2, 3 …). A client that
   * has applied changes up to N asks `GET …/changes?after=N` for the rest.
   */
  lastChangeSeq: Type.Optional(Type.Integer({ minimum: 0 })),
  /** Protocol v1.2: how many messages after the caller's read marker mention the caller (exact; deleted ones do not count). */
  unreadMentions: Type.Optional(Type.Integer({ minimum: 0 })),
  /** Protocol v1.2: the seqs of those messages, ascending, the newest LIMITS.maxMentionSeqs of them. */
  mentionSeqs: Type.Optional(Type.Array(Type.Integer({ minimum: 1 }))),
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
 * Protocol v1.3: one message found by `GET /api/chat/search`, as the caller sees it, with
 * the [start, end) ranges of its body (UTF-16 offsets, ascending, not overlapping) where the
 * query's words matched, for highlighting.
 */
export const SearchHit = Type.Object({
  message: Message,
  matches: Type.Array(Type.Tuple([Type.Integer({ minimum: 0 }), Type.Integer({ minimum: 0 })])),
});
export type SearchHit = Static<typeof SearchHit>;

/** A page of search results, best first; `nextCursor` asks for the next page (null: no more). */
export const SearchResponse = Type.Object({
  hits: Type.Array(SearchHit),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
});
export type SearchResponse = Static<typeof SearchResponse>;

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
