import type { ChannelListing, ConversationId, SearchResponse, User, UserId } from '@relay-chat/protocol';

/** What opening a conversation found: where the "New messages" divider goes, if anywhere. */
export interface OpenResult {
  firstUnreadSeq: number | undefined;
}

/** What a message answers and whom it mentions. */
export interface SendOptions {
  replyTo?: number;
  mentions?: UserId[];
}

/** A page of the user directory. */
export interface UserPage {
  users: User[];
  nextCursor: string | null;
}

/**
 * Everything the screens can ask of the chat backend. Implemented over the SDK by
 * ChatController; components get it from context and never touch the SDK themselves.
 * Methods that return promises reject with a ChatError.
 */
export interface ChatActions {
  /** Queues a message (shown as "sending" at once), maybe a reply, maybe mentioning members. */
  send(conv: ConversationId, body: string, options?: SendOptions): void;
  /** Replaces the body (and mentions) of an own message. */
  edit(conv: ConversationId, seq: number, body: string, mentions?: UserId[]): Promise<void>;
  /** Deletes a message (own, or any in a group/channel the caller owns): a tombstone remains. */
  deleteMessage(conv: ConversationId, seq: number): Promise<void>;
  /** Sets (`on`) or clears the caller's reaction with one emoji. */
  react(conv: ConversationId, seq: number, emoji: string, on: boolean): Promise<void>;
  /** Loads the messages around one (a jump to a reply's parent that is not loaded). */
  loadAround(conv: ConversationId, seq: number): Promise<void>;
  /** Loads the page of history just before `before` (fills a hole left by a jump). */
  loadGap(conv: ConversationId, before: number): Promise<void>;
  /** Loads the page of history just after `after` (fills a hole from above, scrolling down). */
  loadNewer(conv: ConversationId, after: number): Promise<void>;
  /**
   * Searches the messages of the caller's conversations (best first); `cursor` asks for the
   * next page, `signal` cancels. Rejects with `validation_failed` for nothing searchable.
   */
  searchMessages(query: string, options?: { cursor?: string; signal?: AbortSignal }): Promise<SearchResponse>;
  /** Loads the first page of a thread's replies (and its root). */
  openThread(conv: ConversationId, root: number): Promise<void>;
  /** Loads the next page of a thread's replies. */
  loadMoreReplies(conv: ConversationId, root: number): Promise<void>;
  retry(conv: ConversationId, clientMsgId: string): void;
  discard(conv: ConversationId, clientMsgId: string): void;
  /** Loads the newest page (and, with unread, back to the first unread). Safe to call again. */
  open(conv: ConversationId): Promise<OpenResult>;
  /** Loads one older page; resolves when it is in the store (or there is none). */
  loadOlder(conv: ConversationId): Promise<void>;
  /** Moves the read marker forward (no-op when it is there already). */
  markRead(conv: ConversationId, seq: number): void;
  /** Moves the read marker of every conversation to its end, on every device (one request). */
  markAllRead(): Promise<void>;
  /** Tells the others "I am typing" (throttled here). */
  typing(conv: ConversationId): void;
  /** Opens or creates the DM with a user. */
  openDm(user: UserId): Promise<ConversationId>;
  createGroup(name: string, members: UserId[]): Promise<ConversationId>;
  createChannel(name: string): Promise<ConversationId>;
  join(conv: ConversationId): Promise<void>;
  leave(conv: ConversationId): Promise<void>;
  /** Renames a group or channel and/or sets its topic (`null` or `''` clears it); the owner only. */
  updateConversation(conv: ConversationId, change: { name?: string; topic?: string | null }): Promise<void>;
  /** Adds people to a group (its owner only). */
  addMembers(conv: ConversationId, members: UserId[]): Promise<void>;
  /** Removes someone from a group (its owner only). */
  removeMember(conv: ConversationId, user: UserId): Promise<void>;
  /** Mutes or unmutes a conversation on every device of the user. */
  setMuted(conv: ConversationId, muted: boolean): Promise<void>;
  /** Hides a DM from the list until its next message. */
  hide(conv: ConversationId): Promise<void>;
  channels(query: string): Promise<ChannelListing[]>;
  users(query: string, cursor?: string): Promise<UserPage>;
  /** Asks who of these users is online now (the answer lands in the store). */
  refreshPresence(users: UserId[]): Promise<void>;
  /** Reconnects now instead of waiting for the next backoff attempt. */
  reconnectNow(): void;
  logout(): Promise<void>;
}
