import type { ConversationId, ConversationKind, ErrorCode, Message, UserId } from '@relay-chat/protocol';
import type { ParsedQuery } from '../search/search-text.js';
import type { MemberSettings } from './management-rules.js';

export type { MemberSettings } from './management-rules.js';

/**
 * Where chat history, conversations, memberships and read markers live. Declared here,
 * beside its consumer; `sqlite.ts`, `postgres.ts` and `mongo.ts` each implement it in one
 * file, and all pass the one contract suite in `contract.ts`.
 *
 * Invariants every implementation keeps:
 * - per conversation, `seq` is gapless (1, 2, 3 …) and assigned in the same transaction
 *   that inserts the message, so a committed message is never skipped by a reader;
 * - `(sender, clientMsgId)` is unique: appending it again stores nothing and returns the
 *   original message with `duplicate: true`;
 * - a message is stored only if its sender is a member of its conversation when it commits
 *   (checked in the same transaction, so a leave and an append never both win);
 * - `lastReadSeq` only moves forward and never past `lastSeq`;
 * - a conversation is renamed, retopiced, or a group's members added or removed, only by
 *   its owner (`createdBy`) while a member, checked in the transaction that commits the
 *   change (the rule is in `management-rules.ts`).
 * All times are milliseconds since the epoch.
 */
export interface MessageStore {
  /** Creates or upgrades the schema; called once at start. */
  migrate(): Promise<void>;
  /** Throws when the store is unreachable (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;

  // --- conversations and membership -------------------------------------------------

  /** The one DM between two distinct users, created on first call (idempotent, race-safe). */
  getOrCreateDm(
    a: UserId,
    b: UserId,
    now: number,
  ): Promise<{ conversation: ConversationRecord; created: boolean }>;
  /** A named group; the creator and `members` become members. */
  createGroup(
    input: { name: string; createdBy: UserId; members: UserId[] },
    now: number,
  ): Promise<ConversationRecord>;
  /** A public channel; the creator joins it. Channel names are unique (case-insensitive): else ChatError `conflict`. */
  createChannel(input: { name: string; createdBy: UserId }, now: number): Promise<ConversationRecord>;
  /**
   * The public channel named `name` (case-insensitive), created by `createdBy` with no
   * members when there is none. Race-safe: concurrent callers get the same channel.
   */
  ensureChannel(input: { name: string; createdBy: UserId }, now: number): Promise<ConversationRecord>;
  getConversation(id: ConversationId): Promise<ConversationRecord | undefined>;
  /**
   * Renames a group or channel and/or sets its topic (null: none) as `actor`, who must be its
   * owner and a member when the change commits (see management-rules.ts: `not_found`,
   * `not_member`, `forbidden`); a channel name taken by another channel is `conflict`.
   * Returns the changed conversation.
   */
  updateConversation(
    conv: ConversationId,
    actor: UserId,
    change: { name?: string; topic?: string | null },
  ): Promise<ConversationRecord>;
  /**
   * Adds `userIds` to a group as `actor` (its owner, a member at commit), so that it has at
   * most `maxMembers` (`validation_failed` past it, adding no one). Returns those newly
   * added, in the order given (members already are skipped). Refusals as updateConversation.
   */
  addMembers(
    conv: ConversationId,
    actor: UserId,
    userIds: UserId[],
    now: number,
    maxMembers: number,
  ): Promise<UserId[]>;
  /** Removes `userId` from a group as `actor` (its owner, a member at commit); true when they were one. */
  removeMemberAs(conv: ConversationId, actor: UserId, userId: UserId): Promise<boolean>;
  /**
   * Changes the member's own settings: `muted`, and `hidden` (DMs only, else `forbidden`):
   * hidden until a message with a higher seq than the conversation's last one at commit;
   * `hidden: false` shows it again. `not_member` / `not_found` as markRead.
   */
  updateSettings(conv: ConversationId, userId: UserId, settings: MemberSettings): Promise<void>;
  /**
   * Records the user's first visit. The first call for a user adds them to those of
   * `channels` that exist and returns the ones they newly joined; every later call returns
   * [] and changes nothing, so a channel left afterwards stays left. Atomic.
   */
  welcome(userId: UserId, channels: ConversationId[], now: number): Promise<ConversationId[]>;
  /** Public channels by name, with whether `userId` has joined; `q` is a case-insensitive name prefix. */
  listChannels(input: {
    userId: UserId;
    q?: string;
    limit: number;
    after?: string;
  }): Promise<ChannelRecord[]>;
  /** Adds a member (no-op when already one); true when newly added. */
  addMember(conv: ConversationId, userId: UserId, now: number): Promise<boolean>;
  /** Removes a member; true when they were one. */
  removeMember(conv: ConversationId, userId: UserId): Promise<boolean>;
  isMember(conv: ConversationId, userId: UserId): Promise<boolean>;
  /** Member ids in join order, at most `limit` (default all). */
  listMembers(conv: ConversationId, limit?: number): Promise<UserId[]>;
  memberCount(conv: ConversationId): Promise<number>;
  /**
   * The user's conversations with their read state, most recent activity first: ordered by
   * (`lastActivityAt` descending, `id` descending), a total order. Without `page`, all of
   * them; with it, at most `page.limit`, those after `page.before` in that order (keyset
   * paging: pass the last conversation of the previous page as the cursor). A conversation
   * whose activity does not change while a client pages appears exactly once; one that
   * moves meanwhile jumps to the front and may be missed or seen twice. DMs the user hid
   * (and that got no message since) are included, flagged `hidden`, unless `page.visibleOnly`.
   */
  conversationsOf(userId: UserId, page?: ConversationPage): Promise<ConversationState[]>;
  /** One conversation with the user's read state (hidden or not), or undefined when not a member. */
  conversationStateOf(conv: ConversationId, userId: UserId): Promise<ConversationState | undefined>;
  /**
   * Those of `others` who have sent at least one message in a DM or group that both they
   * and `userId` are members of now (channels are public and do not count; neither does
   * only receiving). Counts messages sent since the sender's current join. Never contains
   * `userId` itself.
   */
  spokeWith(userId: UserId, others: UserId[]): Promise<Set<UserId>>;
  /** How many groups and channels `userId` created at or after `since` (ms); DMs do not count. */
  conversationsCreatedSince(userId: UserId, since: number): Promise<number>;

  // --- messages -----------------------------------------------------------------------

  /**
   * Appends messages, each to its conversation, in one transaction (group commit): every
   * outcome is durable when the promise resolves. Outcomes are in input order:
   * - a message whose `(sender, clientMsgId)` is stored comes back as that stored message,
   *   `duplicate: true` (whatever its sender's membership is now);
   * - a message whose sender is not a member of its conversation when the batch commits is
   *   `{ refused: 'not_member' }`, one to a conversation that does not exist
   *   `{ refused: 'not_found' }`: it takes no seq and changes nothing for the other inputs
   *   (a refusal never fails the batch);
   * - a repeat of an earlier input of the same batch gets that input's outcome (a stored
   *   message as `duplicate: true`, or the same refusal);
   * - any other input is stored with the next seq of its conversation.
   * Appending also moves the sender's read marker to the new message's seq (your own
   * messages are never unread). The batch fails as a whole, storing nothing, only on bad
   * input (`validation_failed`) or a database error.
   */
  append(inputs: AppendInput[]): Promise<AppendOutcome[]>;
  /**
   * A page of history in ascending `seq`. With `after`: the first `limit` messages with
   * seq > after. With `before`: the last `limit` messages with seq < before. With neither:
   * the newest `limit` messages. Each message carries its sender's `clientMsgId` (the
   * chat core shows it to the sender only).
   */
  history(
    conv: ConversationId,
    page: { before?: number; after?: number; limit: number },
  ): Promise<StoredMessage[]>;
  /**
   * Moves the member's read marker forward to `seq` (never backward) and returns the
   * marker now stored. Throws ChatError `seq_out_of_range` when seq > lastSeq, `not_member`
   * when the user is not a member.
   */
  markRead(conv: ConversationId, userId: UserId, seq: number): Promise<number>;
  /** Moves each of the user's read markers to its conversation's lastSeq; returns those that moved. */
  markAllRead(userId: UserId): Promise<{ conv: ConversationId; seq: number }[]>;

  // --- messages that change (protocol v1.2; see docs/design-notes.md) ---------------------
  //
  // Every change of a message (edit, delete, a reaction set or cleared, a reply added to its
  // thread) takes the next value of its conversation's gapless change counter
  // (`lastChangeSeq`) in the transaction that makes it, and stamps the message with it
  // (`changeSeq`). A message's row always holds its current state, so the messages with
  // `changeSeq > N` are exactly what a device that applied changes up to N is missing.
  // Each method checks, in its transaction, that `actor` is a member when it commits
  // (`not_member`; `not_found` for no such conversation or seq). A change that changes
  // nothing (the same body, a reaction already set, a delete of a deleted message) takes
  // no changeSeq and returns `changed: false` with the current state.

  /**
   * Replaces the body and the mentions of `actor`'s own message (`forbidden` for someone
   * else's; `conflict` when it is deleted); sets `editedAt = now`. `mentions` must all be
   * members at commit (`validation_failed`, field `/mentions`); undefined keeps none.
   */
  editMessage(input: EditInput): Promise<ChangeOutcome>;
  /**
   * Deletes a message: its body, mentions and reactions are removed from the store (not
   * hidden); the row stays as a tombstone (`deleted: true`, body '') keeping its seq,
   * `replyTo`, `threadRoot`, `replyCount` and `lastReplyAt`. Allowed to its sender, and to
   * the owner (`createdBy`) of a group or channel for any message in it; else `forbidden`.
   */
  deleteMessage(conv: ConversationId, seq: number, actor: UserId, now: number): Promise<ChangeOutcome>;
  /**
   * Sets (`on`) or clears `actor`'s reaction `emoji` (already validated) on a message. A new
   * distinct emoji past `maxDistinct` on that message is `conflict`; a deleted message is
   * `conflict`. Idempotent: setting it twice is once.
   */
  react(input: ReactInput): Promise<ChangeOutcome>;
  /**
   * The messages of `conv` whose `changeSeq` is above `after`, in ascending changeSeq, at
   * most `limit`, each in its current state; and the conversation's `lastChangeSeq`.
   */
  changesSince(
    conv: ConversationId,
    after: number,
    limit: number,
  ): Promise<{ messages: StoredMessage[]; lastChangeSeq: number }>;
  /**
   * A thread: the replies whose `threadRoot` is `root`, ascending seq, those with seq above
   * `after` (default 0), at most `limit`. The root itself is read with `history`.
   */
  thread(
    conv: ConversationId,
    root: number,
    page: { after?: number; limit: number },
  ): Promise<StoredMessage[]>;
  /**
   * The messages around `seq`: up to `limit` messages, ascending, with `seq` in the middle
   * (half before it, the rest from it on; fewer on one side shifts the page to the other).
   */
  around(conv: ConversationId, seq: number, limit: number): Promise<StoredMessage[]>;

  // --- search (see docs/design-notes.md, "Search") ----------------------------------------
  //
  // Each store indexes every live message's normal form (`searchText(body)` in
  // search/search-text.ts) with its own engine, in the transaction that appends, edits or
  // deletes the message: a deleted message is out of the index, an edited one is found by
  // its current text only. A migration indexes the messages stored before it.

  /**
   * Messages of the conversations `userId` is a member of when the query runs, not deleted,
   * whose normal form contains every term's `match` substring, narrowed by the filters.
   * Ranked in two tiers: first those where every term occurs as a whole word or phrase
   * (its `word` substring), then the rest; newest first within a tier (the order messages
   * were stored in). At most `limit` hits, and the cursor to the next page when there may
   * be more (null when this page reached the end).
   */
  search(input: SearchInput): Promise<SearchPage>;
}

export interface SearchInput {
  userId: UserId;
  query: ParsedQuery;
  /** Only this conversation. */
  conv?: ConversationId;
  /** Only messages sent by this user. */
  author?: UserId;
  /** Only messages with ts < before (ms). */
  before?: number;
  /** Only messages with ts >= after (ms). */
  after?: number;
  limit: number;
  /** Where the previous page ended (as returned by the store). */
  cursor?: SearchCursor;
}

/**
 * A position in a search's results: the tier (0: every term a whole word, 1: the rest) and
 * the store's own position within it (an index row id: results continue below it).
 */
export interface SearchCursor {
  tier: 0 | 1;
  position: string;
}

export interface SearchPage {
  hits: StoredMessage[];
  next: SearchCursor | null;
}

export interface EditInput {
  conv: ConversationId;
  seq: number;
  actor: UserId;
  body: string;
  mentions?: UserId[];
  now: number;
}

export interface ReactInput {
  conv: ConversationId;
  seq: number;
  actor: UserId;
  emoji: string;
  on: boolean;
  now: number;
  /** Most distinct emoji a message may carry (LIMITS.maxReactionsPerMessage). */
  maxDistinct: number;
}

/** What a change did: the message's current state, and whether this call changed it. */
export interface ChangeOutcome {
  message: StoredMessage;
  changed: boolean;
}

export interface ConversationRecord {
  id: ConversationId;
  kind: ConversationKind;
  /** Group or channel name; null for DMs. */
  name: string | null;
  /** Group or channel topic; null when none. */
  topic: string | null;
  /** The owner (SYSTEM_USER_ID for the server's own channels). */
  createdBy: UserId;
  createdAt: number;
  lastSeq: number;
  /** The conversation's change counter: changes made to its messages so far (gapless). */
  lastChangeSeq: number;
  /** Time of the last message, or createdAt. */
  lastActivityAt: number;
}

export interface ConversationState extends ConversationRecord {
  lastReadSeq: number;
  /** lastSeq − lastReadSeq (deleted messages keep their seq, so they still count). */
  unread: number;
  /** Messages after lastReadSeq, not deleted, that mention the user (by someone else). */
  unreadMentions: number;
  /** Their seqs, ascending, the newest LIMITS.maxMentionSeqs of them. */
  mentionSeqs: number[];
  /** The user muted it. */
  muted: boolean;
  /** The user hid this DM and no message came since. */
  hidden: boolean;
  memberCount: number;
  /** Up to MEMBERS_PREVIEW member ids, in join order. */
  memberIds: UserId[];
  lastMessage: Message | null;
}

export interface ChannelRecord {
  id: ConversationId;
  name: string;
  memberCount: number;
  joined: boolean;
  lastActivityAt: number;
}

export interface AppendInput {
  conv: ConversationId;
  sender: UserId;
  clientMsgId: string;
  body: string;
  /** Server time of acceptance. */
  ts: number;
  /** The seq of the message of the same conversation this one answers. */
  replyTo?: number;
  /** Members mentioned (deduplicated by the caller; the sender may not mention themself). */
  mentions?: UserId[];
}

/**
 * A message as stored: with its sender's client-made id, in its current state. The
 * optional fields of `Message` are present only when they say something (see models.ts),
 * so every backend returns the same object for the same state.
 */
export type StoredMessage = Message & { clientMsgId: string };

export interface AppendResult {
  message: StoredMessage;
  /** True when this (sender, clientMsgId) was stored before: nothing new was written. */
  duplicate: boolean;
  /**
   * A reply changes its thread's root (`replyCount`, `lastReplyAt`, a new `changeSeq`): the
   * root's state after this append (absent for a duplicate and for a message that is no reply).
   */
  root?: StoredMessage;
}

/**
 * Why `append` did not store an input: its sender is not a member, or its conversation
 * does not exist; `bad_reply` — `replyTo` names no message of the conversation;
 * `bad_mentions` — a mentioned user is not a member.
 */
export type AppendRefusal = Extract<ErrorCode, 'not_member' | 'not_found'> | 'bad_reply' | 'bad_mentions';

/** What `append` did with one input: stored it (or found it stored), or refused it. */
export type AppendOutcome = AppendResult | { refused: AppendRefusal };

/** Where a conversation list page starts: the last conversation of the previous page. */
export interface ConversationCursor {
  lastActivityAt: number;
  id: ConversationId;
}

/** A page of `conversationsOf`: at most `limit` conversations after `before`. */
export interface ConversationPage {
  limit: number;
  before?: ConversationCursor;
  /** Leave out the DMs the user hid (and that got no message since). */
  visibleOnly?: boolean;
}
