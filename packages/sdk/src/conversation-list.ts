import type { Conversation, ConversationId, Message, UserId } from '@relay-chat/protocol';
import { MentionTracker } from './mentions.js';

/**
 * The caller's conversations as last known: seeded from `ready`, updated by `conversation`
 * frames, delivered messages and read markers, so `unread` and `lastMessage` stay current
 * between server snapshots. Conversations are immutable snapshots, replaced on change (so a
 * UI can compare by reference).
 *
 * `unreadMentions` and `mentionSeqs` are kept live the same way (see MentionTracker):
 * delivered messages and changes that mention the caller add or remove theirs, read
 * markers drop what they pass, and a server snapshot (`ready`, a conversation first seen)
 * resets them.
 *
 * A DM the caller hid stays known (`get`) but is left out of `all()` until a message with a
 * higher seq arrives, as the server leaves it out of its lists until then.
 */
export class ConversationList {
  readonly #byId = new Map<ConversationId, Conversation>();
  readonly #mentions = new Map<ConversationId, MentionTracker>();
  #me: UserId | undefined;

  /** Replaces everything with a server snapshot (a `ready` frame). */
  reset(conversations: readonly Conversation[], me: UserId): void {
    this.#me = me;
    this.#byId.clear();
    this.#mentions.clear();
    for (const conversation of conversations) {
      this.#mentions.set(conversation.id, trackerOf(conversation));
      this.#byId.set(conversation.id, this.#withMentions(conversation));
    }
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
    if (known && (known.lastChangeSeq ?? 0) > (next.lastChangeSeq ?? 0)) {
      next = { ...next, lastChangeSeq: known.lastChangeSeq };
    }
    // Mentions: the server's count for a conversation first seen; ours (kept live) otherwise.
    const tracker = known ? this.#mentions.get(next.id) : undefined;
    if (tracker) {
      tracker.read(next.lastReadSeq);
    } else {
      this.#mentions.set(next.id, trackerOf(next));
    }
    next = this.#withMentions(withUnread(next));
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
    this.#mentions.delete(id);
    return this.#byId.delete(id);
  }

  /**
   * A delivered message moves lastSeq / lastMessage; one of the caller's own is read by
   * definition; one mentioning the caller counts among the unread mentions.
   */
  applyMessage(message: Message): Conversation | undefined {
    const known = this.#byId.get(message.conv);
    if (!known) return known;
    if (message.seq <= known.lastSeq) return this.#applyMentions(known, message);
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
    const tracker = this.#mentions.get(next.id);
    tracker?.read(next.lastReadSeq);
    tracker?.apply(message, this.#me, next.lastReadSeq);
    next = this.#withMentions(next);
    this.#byId.set(next.id, next);
    return next;
  }

  /**
   * A message changed (its whole newest state): the preview shows it when it is the last
   * message, and the unread mentions follow it (a deletion or an edit that drops the
   * caller's mention removes it, an edit that adds one adds it).
   */
  applyChange(message: Message): Conversation | undefined {
    const known = this.#byId.get(message.conv);
    if (!known) return known;
    let next = known;
    const last = known.lastMessage;
    if (last && last.seq === message.seq && (last.changeSeq ?? 0) < (message.changeSeq ?? 0)) {
      next = { ...next, lastMessage: message };
    }
    if ((next.lastChangeSeq ?? 0) < (message.changeSeq ?? 0))
      next = { ...next, lastChangeSeq: message.changeSeq };
    next = this.#applyMentions(next, message);
    if (next !== known) this.#byId.set(next.id, next);
    return next;
  }

  /** Moves the read marker forward (never back). */
  applyRead(conv: ConversationId, seq: number): Conversation | undefined {
    const known = this.#byId.get(conv);
    if (!known || seq <= known.lastReadSeq) return known;
    this.#mentions.get(conv)?.read(seq);
    const next = this.#withMentions(withUnread({ ...known, lastReadSeq: seq }));
    this.#byId.set(next.id, next);
    return next;
  }

  #applyMentions(conversation: Conversation, message: Message): Conversation {
    const tracker = this.#mentions.get(conversation.id);
    if (!tracker?.apply(message, this.#me, conversation.lastReadSeq)) return conversation;
    const next = this.#withMentions(conversation);
    this.#byId.set(next.id, next);
    return next;
  }

  /** The conversation with its tracker's count and seqs (the same object when they did not change). */
  #withMentions(conversation: Conversation): Conversation {
    const tracker = this.#mentions.get(conversation.id);
    if (!tracker) return conversation;
    const count = tracker.count;
    if (count === 0 && conversation.unreadMentions === undefined && conversation.mentionSeqs === undefined) {
      return conversation;
    }
    const seqs = tracker.seqs;
    const same =
      conversation.unreadMentions === count &&
      conversation.mentionSeqs !== undefined &&
      conversation.mentionSeqs.length === seqs.length &&
      conversation.mentionSeqs.every((seq, i) => seq === seqs[i]);
    return same ? conversation : { ...conversation, unreadMentions: count, mentionSeqs: seqs };
  }
}

function trackerOf(conversation: Conversation): MentionTracker {
  return MentionTracker.from(conversation.unreadMentions, conversation.mentionSeqs, conversation.lastReadSeq);
}

function withUnread(conversation: Conversation): Conversation {
  const unread = Math.max(0, conversation.lastSeq - conversation.lastReadSeq);
  return unread === conversation.unread ? conversation : { ...conversation, unread };
}
