import type { Conversation, ConversationId, Message, UserId } from '@relay-chat/protocol';

/**
 * The caller's conversations as last known: seeded from `ready`, updated by `conversation`
 * frames, delivered messages and read markers, so `unread` and `lastMessage` stay current
 * between server snapshots. Conversations are immutable snapshots, replaced on change (so a
 * UI can compare by reference).
 *
 * A DM the caller hid stays known (`get`) but is left out of `all()` until a message with a
 * higher seq arrives, as the server leaves it out of its lists until then.
 */
export class ConversationList {
  readonly #byId = new Map<ConversationId, Conversation>();
  #me: UserId | undefined;

  /** Replaces everything with a server snapshot (a `ready` frame). */
  reset(conversations: readonly Conversation[], me: UserId): void {
    this.#me = me;
    this.#byId.clear();
    for (const conversation of conversations) this.#byId.set(conversation.id, conversation);
  }

  get(id: ConversationId): Conversation | undefined {
    return this.#byId.get(id);
  }

  has(id: ConversationId): boolean {
    return this.#byId.has(id);
  }

  /** Most recent activity first, without hidden DMs (`includeHidden` for every one). */
  all(options: { includeHidden?: boolean } = {}): Conversation[] {
    return [...this.#byId.values()]
      .filter((c) => options.includeHidden || c.hidden !== true)
      .sort((a, b) => b.lastActivityAt - a.lastActivityAt);
  }

  /** Adds or replaces a conversation from the server, keeping progress it does not show yet. */
  upsert(conversation: Conversation): Conversation {
    const known = this.#byId.get(conversation.id);
    let next = conversation;
    if (known && known.lastSeq > conversation.lastSeq) {
      next = {
        ...next,
        lastSeq: known.lastSeq,
        lastMessage: known.lastMessage,
        lastActivityAt: known.lastActivityAt,
      };
    }
    if (known && known.lastReadSeq > next.lastReadSeq) next = { ...next, lastReadSeq: known.lastReadSeq };
    next = withUnread(next);
    this.#byId.set(next.id, next);
    return next;
  }

  /**
   * Applies a change every member sees the same way (a frame naming a `user`: someone
   * joined or left, the owner renamed it): the shared fields are taken, the caller's own
   * (`lastReadSeq`, `unread`, `muted`, `hidden`) are kept, and so is progress the frame
   * does not show yet. Undefined for a conversation not known.
   */
  applyShared(conversation: Conversation): Conversation | undefined {
    const known = this.#byId.get(conversation.id);
    if (!known) return undefined;
    let next: Conversation = {
      ...known,
      kind: conversation.kind,
      name: conversation.name,
      memberCount: conversation.memberCount,
      members: conversation.members,
      createdAt: conversation.createdAt,
    };
    if (conversation.topic !== undefined) next.topic = conversation.topic;
    if (conversation.createdBy !== undefined) next.createdBy = conversation.createdBy;
    if (conversation.lastSeq > known.lastSeq) {
      next = {
        ...next,
        lastSeq: conversation.lastSeq,
        lastMessage: conversation.lastMessage,
        lastActivityAt: Math.max(known.lastActivityAt, conversation.lastActivityAt),
      };
    }
    next = withUnread(next);
    this.#byId.set(next.id, next);
    return next;
  }

  remove(id: ConversationId): boolean {
    return this.#byId.delete(id);
  }

  /** A delivered message moves lastSeq / lastMessage; one of the caller's own is read by definition. */
  applyMessage(message: Message): Conversation | undefined {
    const known = this.#byId.get(message.conv);
    if (!known || message.seq <= known.lastSeq) return known;
    let next: Conversation = {
      ...known,
      lastSeq: message.seq,
      lastMessage: message,
      lastActivityAt: Math.max(known.lastActivityAt, message.ts),
    };
    // A hidden DM is shown again by its next message (the server's rule).
    if (known.hidden) next.hidden = false;
    if (message.from === this.#me) next.lastReadSeq = Math.max(next.lastReadSeq, message.seq);
    next = withUnread(next);
    this.#byId.set(next.id, next);
    return next;
  }

  /** Moves the read marker forward (never back). */
  applyRead(conv: ConversationId, seq: number): Conversation | undefined {
    const known = this.#byId.get(conv);
    if (!known || seq <= known.lastReadSeq) return known;
    const next = withUnread({ ...known, lastReadSeq: seq });
    this.#byId.set(next.id, next);
    return next;
  }
}

function withUnread(conversation: Conversation): Conversation {
  const unread = Math.max(0, conversation.lastSeq - conversation.lastReadSeq);
  return unread === conversation.unread ? conversation : { ...conversation, unread };
}
