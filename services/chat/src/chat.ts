import {
  type AckFrame,
  asConversationId,
  type ChangeFrame,
  ChatError,
  type Conversation,
  type ConversationEvent,
  type ConversationFrame,
  type ConversationId,
  LIMITS,
  MEMBERS_PREVIEW,
  type Message,
  type MessageFrame,
  messageBodyProblem,
  normalizeName,
  normalizeTopic,
  type ReadEventFrame,
  reactionProblem,
  SYSTEM_USER_ID,
  type User,
  type UserId,
} from '@relay-chat/protocol';
import { counter, type Logger } from '@relay-chat/service-kit';
import type { AppendBatcher } from './append-batcher.js';
import { toConversation, toConversations } from './conversation-view.js';
import { type BusEvent, convTopic, encodeEvent, userTopic } from './events.js';
import type { Budget } from './limits/budget.js';
import { checkManager, type ManagedChange } from './store/management-rules.js';
import { shownTo, withoutClientMsgId } from './store/message-changes.js';
import type {
  ChannelRecord,
  ConversationCursor,
  ConversationState,
  MemberSettings,
  MessageStore,
  StoredMessage,
} from './store/message-store.js';
import type { UserDirectory } from './users/user-directory.js';

/** The one thing the chat core needs from the bus. */
export interface Publisher {
  publish(topic: string, payload: string): Promise<void>;
}

export type CreateConversationInput =
  | { kind: 'dm'; with: UserId }
  | { kind: 'group'; name: string; members: UserId[] }
  | { kind: 'channel'; name: string };

export interface SendResult {
  ack: AckFrame;
  message: Message;
  duplicate: boolean;
}

/** What `send` may add to a message (protocol v1.2). */
export interface SendOptions {
  /** The seq of the message of the same conversation this one answers. */
  replyTo?: number;
  /** Members mentioned (user ids); duplicates and the sender themself are dropped. */
  mentions?: UserId[];
}

/** What a change (edit, delete, reaction) did: the message's state after it, and whether it changed. */
export interface ChangeResult {
  message: Message;
  changed: boolean;
}

/** A page of changes: messages in ascending changeSeq, and the conversation's counter now. */
export interface ChangesPage {
  messages: Message[];
  lastChangeSeq: number;
}

/** A page of the caller's conversations and the cursor of the next one (null: that was all). */
export interface ConversationPage {
  conversations: Conversation[];
  nextCursor: string | null;
}

export interface ChatCoreOptions {
  /** Conversations in `ready` and in one page of `GET /conversations`. */
  conversationsPage: number;
  /** Most members a group may have. */
  maxGroupMembers: number;
  /** Groups and channels one user may create per hour. */
  conversationsPerHour: number;
  /**
   * Public channels every user joins on their first visit (created by the server, owner-less,
   * on first need); empty for none. Names as stored (normalised, see normalizeName).
   */
  defaultChannels: readonly string[];
}

/** A change of a group or channel: a new name, a topic (null or empty: none), or both. */
export interface ConversationChange {
  name?: string;
  topic?: string | null;
}

const HOUR_MS = 3600_000;
/** Users remembered as seen (first visit done) per process; past it the memory starts over. */
const SEEN_MEMORY = 100_000;
/**
 * A channel's member changes after the first of a burst are announced together, once per this
 * window, ms (see announceChannelMember).
 */
export const CHANNEL_MEMBERS_WINDOW_MS = 250;

/** The member change a channel's window will announce when it ends (the last of the window's). */
interface ChannelMembersNews {
  timer: NodeJS.Timeout;
  next?: { event: 'member_joined' | 'member_left'; user: UserId; token: string };
}

const messagesStored = counter('chat_messages_stored_total', 'Messages stored', ['duplicate']);
const messageChanges = counter('chat_message_changes_total', 'Edits, deletes and reactions', [
  'kind',
  'changed',
]);
const publishFailures = counter(
  'chat_publish_failures_total',
  'Bus publishes that failed (clients recover from the store)',
);

/**
 * What chat does, shared by the WebSocket gateway and the REST routes: its rules are
 * written here once. A message is stored first, then published; the store refuses, at
 * commit, a sender who is not a member (so no cache anywhere can let one post), and one
 * send budget per user covers every socket and REST.
 */
export class ChatCore {
  /** Users whose first visit is recorded (a cache: the store holds the truth). */
  private readonly seen = new Set<UserId>();
  /** The default channels' ids, once resolved (created on first need). */
  private defaultChannelIds: Promise<ConversationId[]> | undefined;
  /** Channels whose member changes are being gathered (see announceChannelMember). */
  private readonly channelMembers = new Map<ConversationId, ChannelMembersNews>();

  constructor(
    private readonly store: MessageStore,
    private readonly batcher: AppendBatcher,
    private readonly bus: Publisher,
    readonly directory: UserDirectory,
    private readonly log: Logger,
    private readonly options: ChatCoreOptions,
    /** Messages per user over every socket and REST (and, deployed, every replica). */
    private readonly sendBudget: Budget,
  ) {}

  /**
   * Stores a message (idempotent on clientMsgId), then publishes it. Throws ChatError
   * `rate_limited` past the sender's budget, `validation_failed` for a malformed body (or,
   * naming `/replyTo` or `/mentions`, a reply to no message of the conversation or a
   * mention of a non-member), `not_member` / `not_found` when the store refuses the sender.
   * A reply changes its thread's root: the root's new state is published as a `change`
   * after the message.
   */
  async send(
    conv: ConversationId,
    sender: UserId,
    clientMsgId: string,
    body: string,
    options: SendOptions = {},
  ): Promise<SendResult> {
    const problem = messageBodyProblem(body);
    if (problem) throw new ChatError('validation_failed', problem);
    const mentions = mentionsOf(options.mentions, sender);
    await this.sendBudget.take(sender);
    const { message, duplicate, root } = await this.batcher.append({
      conv,
      sender,
      clientMsgId,
      body,
      ts: Date.now(),
      ...(options.replyTo !== undefined ? { replyTo: options.replyTo } : {}),
      ...(mentions ? { mentions } : {}),
    });
    messagesStored.inc({ duplicate: String(duplicate) });
    const shown = withoutClientMsgId(message);
    const frame: MessageFrame = { type: 'message', ...shown };
    // A duplicate is published again: if this replica died between commit and publish
    // the first time, the retry heals the live path (clients drop seqs they have).
    this.publish(convTopic(conv), { kind: 'message', seq: message.seq, frame: JSON.stringify(frame) });
    if (root) this.publishChange(root);
    const ack: AckFrame = {
      type: 'ack',
      clientMsgId,
      conv,
      id: message.id,
      seq: message.seq,
      ts: message.ts,
    };
    return { ack, message: shown, duplicate };
  }

  /**
   * Replaces the body and mentions of the actor's own message; every member's devices get a
   * `change`. Refusals: `validation_failed` (body, mentions), `rate_limited` (one send-budget
   * token per change), then the store's `not_found`, `not_member`, `forbidden` (someone
   * else's message), `conflict` (a deleted one). The same body and mentions again change
   * nothing (`changed: false`, no event).
   */
  async editMessage(
    conv: ConversationId,
    actor: UserId,
    seq: number,
    body: string,
    mentions?: UserId[],
  ): Promise<ChangeResult> {
    const problem = messageBodyProblem(body);
    if (problem) throw fieldError('/body', problem);
    const kept = mentionsOf(mentions, actor);
    await this.sendBudget.take(actor);
    const outcome = await this.store.editMessage({
      conv,
      seq,
      actor,
      body,
      ...(kept ? { mentions: kept } : {}),
      now: Date.now(),
    });
    return this.changed('edit', actor, outcome);
  }

  /**
   * Deletes a message (its sender, or the owner of a group or channel): it becomes a
   * tombstone on every device. Refusals as editMessage; a second delete changes nothing.
   */
  async deleteMessage(conv: ConversationId, actor: UserId, seq: number): Promise<ChangeResult> {
    await this.sendBudget.take(actor);
    const outcome = await this.store.deleteMessage(conv, seq, actor, Date.now());
    return this.changed('delete', actor, outcome);
  }

  /**
   * Sets (`on`) or clears the actor's reaction `emoji` (exactly one emoji, else
   * `validation_failed` naming `/emoji`). `conflict` on a deleted message or past
   * LIMITS.maxReactionsPerMessage distinct emoji; idempotent.
   */
  async react(
    conv: ConversationId,
    actor: UserId,
    seq: number,
    emoji: string,
    on: boolean,
  ): Promise<ChangeResult> {
    const problem = reactionProblem(emoji);
    if (problem) throw fieldError('/emoji', problem);
    await this.sendBudget.take(actor);
    const outcome = await this.store.react({
      conv,
      seq,
      actor,
      emoji,
      on,
      now: Date.now(),
      maxDistinct: LIMITS.maxReactionsPerMessage,
    });
    return this.changed('react', actor, outcome);
  }

  /** The messages changed after `after` (ascending changeSeq, at most `limit`), in their current state. */
  async changes(userId: UserId, conv: ConversationId, after: number, limit: number): Promise<ChangesPage> {
    await this.requireMember(conv, userId);
    const page = await this.store.changesSince(conv, after, Math.min(limit, LIMITS.maxChangesPage));
    return { messages: page.messages.map((m) => shownTo(m, userId)), lastChangeSeq: page.lastChangeSeq };
  }

  /**
   * A thread: its root and a page of its replies (ascending seq, after `after`). `seq` may
   * be the root or any reply of the thread; `not_found` when there is no such message.
   */
  async thread(
    userId: UserId,
    conv: ConversationId,
    seq: number,
    page: { after?: number; limit: number },
  ): Promise<{ root: Message; messages: Message[] }> {
    await this.requireMember(conv, userId);
    let root = await this.messageAt(conv, seq);
    if (root.threadRoot !== undefined) root = await this.messageAt(conv, root.threadRoot);
    const replies = await this.store.thread(conv, root.seq, {
      limit: Math.min(page.limit, LIMITS.maxChangesPage),
      ...(page.after !== undefined ? { after: page.after } : {}),
    });
    return { root: shownTo(root, userId), messages: replies.map((m) => shownTo(m, userId)) };
  }

  /** The messages around `seq` (ascending, `seq` in the middle), to jump to a reply's parent. */
  async around(userId: UserId, conv: ConversationId, seq: number, limit: number): Promise<Message[]> {
    await this.requireMember(conv, userId);
    const messages = await this.store.around(conv, seq, limit);
    return messages.map((m) => shownTo(m, userId));
  }

  private async messageAt(conv: ConversationId, seq: number): Promise<StoredMessage> {
    const [message] = await this.store.history(conv, { after: seq - 1, limit: 1 });
    if (message?.seq !== seq) throw new ChatError('not_found', 'no such message');
    return message;
  }

  private changed(
    kind: 'edit' | 'delete' | 'react',
    actor: UserId,
    outcome: { message: StoredMessage; changed: boolean },
  ): ChangeResult {
    messageChanges.inc({ kind, changed: String(outcome.changed) });
    // A change that changed nothing is most often a retry (the SDK falls back to REST when
    // its change_ack does not come): if the replica that made the change died between commit
    // and publish, publishing the current state again — with the changeSeq it already has —
    // heals the live path, as a duplicate send does. Devices that have it drop it.
    if (outcome.changed || outcome.message.changeSeq !== undefined) this.publishChange(outcome.message);
    return { message: shownTo(outcome.message, actor), changed: outcome.changed };
  }

  /** Publishes a changed message's whole state on its conversation's topic, for every member's devices. */
  private publishChange(message: StoredMessage): void {
    const changeSeq = message.changeSeq;
    if (changeSeq === undefined) {
      this.log.warn({ conv: message.conv, seq: message.seq }, 'a changed message without changeSeq');
      return;
    }
    const frame: ChangeFrame = {
      type: 'change',
      conv: message.conv,
      changeSeq,
      message: withoutClientMsgId(message),
    };
    this.publish(convTopic(message.conv), {
      kind: 'change',
      changeSeq,
      seq: message.seq,
      frame: JSON.stringify(frame),
    });
  }

  /** Moves the read marker; tells the user's other devices. `origin` is the session to skip. */
  async markRead(conv: ConversationId, userId: UserId, seq: number, origin = '-'): Promise<number> {
    const stored = await this.store.markRead(conv, userId, seq);
    const frame: ReadEventFrame = { type: 'read', conv, seq: stored };
    this.publish(userTopic(userId), { kind: 'read', origin, frame: JSON.stringify(frame) });
    return stored;
  }

  /** Every conversation of the user with its read state, most recent activity first. */
  conversationStatesOf(userId: UserId): Promise<ConversationState[]> {
    return this.store.conversationsOf(userId);
  }

  /**
   * The first page of `states` (already in activity order) as the contract's conversations,
   * without the DMs the user hid (as `GET /conversations`, which continues it).
   */
  readyView(states: ConversationState[], token: string): Promise<ConversationPage> {
    return this.pageOf(
      states.filter((s) => !s.hidden),
      this.options.conversationsPage,
      token,
    );
  }

  private async pageOf(states: ConversationState[], limit: number, token: string): Promise<ConversationPage> {
    const page = states.slice(0, limit);
    return {
      conversations: await toConversations(page, this.directory, token),
      nextCursor: states.length > page.length ? cursorOf(page.at(-1)!) : null,
    };
  }

  /** One page (at most `limit`, at most a configured page) of the caller's conversations, most recent activity first. */
  async conversationsOf(
    userId: UserId,
    token: string,
    cursor?: string,
    limit = this.options.conversationsPage,
  ): Promise<ConversationPage> {
    limit = Math.min(limit, this.options.conversationsPage);
    const before = cursor === undefined ? undefined : parseCursor(cursor);
    // One more than a page tells whether another page follows.
    await this.welcome(userId, token);
    const states = await this.store.conversationsOf(userId, {
      limit: limit + 1,
      visibleOnly: true,
      ...(before ? { before } : {}),
    });
    return this.pageOf(states, limit, token);
  }

  async conversationOf(conv: ConversationId, userId: UserId, token: string): Promise<Conversation> {
    const state = await this.store.conversationStateOf(conv, userId);
    if (!state) throw await this.notMemberOrNotFound(conv);
    const [view] = await toConversations([state], this.directory, token);
    return view!;
  }

  async history(
    userId: UserId,
    conv: ConversationId,
    page: { before?: number; after?: number; limit: number },
  ): Promise<Message[]> {
    await this.requireMember(conv, userId);
    const messages = await this.store.history(conv, page);
    return messages.map((m) => shownTo(m, userId));
  }

  async listChannels(
    userId: UserId,
    q: string | undefined,
    limit: number,
    after?: string,
  ): Promise<ChannelRecord[]> {
    return this.store.listChannels({ userId, ...(q ? { q } : {}), limit, ...(after ? { after } : {}) });
  }

  async createConversation(
    creator: User,
    input: CreateConversationInput,
    token: string,
  ): Promise<{ conversation: Conversation; created: boolean }> {
    const now = Date.now();
    if (input.kind === 'dm') {
      if (input.with === creator.id) throw new ChatError('validation_failed', 'a DM needs another user');
      await this.requireUsers([input.with], token);
      const { conversation, created } = await this.store.getOrCreateDm(creator.id, input.with, now);
      if (created) await this.announceJoin(conversation.id, [creator.id, input.with], 'created', token);
      return { conversation: await this.conversationOf(conversation.id, creator.id, token), created };
    }
    const name = nameOf(input.name);
    await this.requireCreationBudget(creator.id, now);
    if (input.kind === 'group') {
      const members = [...new Set(input.members.filter((m) => m !== creator.id))];
      if (members.length + 1 > this.options.maxGroupMembers) {
        throw new ChatError(
          'validation_failed',
          `a group has at most ${this.options.maxGroupMembers} members`,
        );
      }
      await this.requireUsers(members, token);
      await this.requireConsent(creator.id, members);
      const record = await this.store.createGroup({ name, createdBy: creator.id, members }, now);
      await this.announceJoin(record.id, [creator.id, ...members], 'created', token);
      return { conversation: await this.conversationOf(record.id, creator.id, token), created: true };
    }
    const record = await this.store.createChannel({ name, createdBy: creator.id }, now);
    await this.announceJoin(record.id, [creator.id], 'created', token);
    return { conversation: await this.conversationOf(record.id, creator.id, token), created: true };
  }

  /** Joins a public channel (idempotent). */
  async join(conv: ConversationId, user: User, token: string): Promise<Conversation> {
    const record = await this.store.getConversation(conv);
    if (!record) throw new ChatError('not_found', 'no such conversation');
    if (record.kind !== 'channel') throw new ChatError('forbidden', 'only public channels can be joined');
    if (await this.store.addMember(conv, user.id, Date.now())) {
      await this.announceJoin(conv, [user.id], 'joined', token);
      await this.announceChannelMember(conv, user.id, 'member_joined', token);
    }
    return this.conversationOf(conv, user.id, token);
  }

  /** Leaves a group or channel. */
  async leave(conv: ConversationId, user: User, token: string): Promise<void> {
    const record = await this.store.getConversation(conv);
    if (!record) throw new ChatError('not_found', 'no such conversation');
    if (record.kind === 'dm') throw new ChatError('forbidden', 'a direct conversation cannot be left');
    const state = await this.store.conversationStateOf(conv, user.id);
    if (!state || !(await this.store.removeMember(conv, user.id))) throw new ChatError('not_member');
    await this.announceLeft(conv, user.id, state, token);
    if (record.kind === 'channel') await this.announceChannelMember(conv, user.id, 'member_left', token);
    else await this.announceMember(conv, user.id, 'member_left', token);
  }

  /**
   * Renames a group or channel and/or sets its topic, as its owner; every member's devices
   * get `updated`. Refusals: `not_found`, `not_member`, `forbidden` (a DM, or not the
   * owner), `validation_failed` (a bad name or topic), `conflict` (a channel name taken).
   */
  async updateConversation(
    conv: ConversationId,
    actor: User,
    change: ConversationChange,
    token: string,
  ): Promise<Conversation> {
    const normalized: { name?: string; topic?: string | null } = {};
    if (change.name !== undefined) normalized.name = nameOf(change.name);
    if (change.topic !== undefined) normalized.topic = topicOf(change.topic);
    if (normalized.name === undefined && normalized.topic === undefined) {
      throw new ChatError('validation_failed', 'give a name, a topic, or both');
    }
    await this.store.updateConversation(conv, actor.id, normalized);
    await this.announceShared(conv, 'updated', actor.id, [], token);
    return this.conversationOf(conv, actor.id, token);
  }

  /**
   * Adds people to a group, as its owner. Each must have written to the owner (the consent
   * rule of group creation); the group stays within MAX_GROUP_MEMBERS. The newcomers'
   * devices get `joined`, every member's `member_joined` (one per newcomer), and both sides
   * start watching each other's presence.
   */
  async addMembers(
    conv: ConversationId,
    actor: User,
    userIds: UserId[],
    token: string,
  ): Promise<Conversation> {
    const others = [...new Set(userIds)].filter((id) => id !== actor.id);
    // The owner rule first (outsiders learn nothing about the users named); the store
    // checks it again where the change commits.
    await this.precheckManager(conv, actor.id, 'members');
    await this.requireUsers(others, token);
    await this.requireConsent(actor.id, others);
    const added = await this.store.addMembers(
      conv,
      actor.id,
      others,
      Date.now(),
      this.options.maxGroupMembers,
    );
    if (added.length > 0) {
      await this.announceJoin(conv, added, 'joined', token);
      for (const userId of added) await this.announceMember(conv, userId, 'member_joined', token);
    }
    return this.conversationOf(conv, actor.id, token);
  }

  /**
   * Removes someone from a group, as its owner (removing yourself is leaving). Their
   * devices get `left`, the others' `member_left`. `not_found` when they are not a member.
   */
  async removeMember(conv: ConversationId, actor: User, userId: UserId, token: string): Promise<void> {
    if (userId === actor.id) return this.leave(conv, actor, token);
    await this.precheckManager(conv, actor.id, 'members');
    // Their view, for their own `left` frame, read before it goes.
    const state = await this.store.conversationStateOf(conv, userId);
    if (!(await this.store.removeMemberAs(conv, actor.id, userId)) || !state) {
      throw new ChatError('not_found', 'no such member in this conversation');
    }
    await this.announceLeft(conv, userId, state, token);
    await this.announceMember(conv, userId, 'member_left', token);
  }

  /**
   * Changes the caller's own settings of a conversation (mute; hide a DM until its next
   * message); all of their devices get `updated` with their new view, nobody else hears of it.
   */
  async updateSettings(
    conv: ConversationId,
    user: User,
    settings: MemberSettings,
    token: string,
  ): Promise<Conversation> {
    if (settings.muted === undefined && settings.hidden === undefined) {
      throw new ChatError('validation_failed', 'give muted, hidden, or both');
    }
    await this.store.updateSettings(conv, user.id, settings);
    const conversation = await this.conversationOf(conv, user.id, token);
    const frame: ConversationFrame = { type: 'conversation', event: 'updated', conversation };
    this.publish(userTopic(user.id), { kind: 'settings', frame: JSON.stringify(frame) });
    return conversation;
  }

  /** Marks every conversation of the user read at its last seq; their devices get a `read` per conversation that moved. */
  async markAllRead(userId: UserId): Promise<{ conv: ConversationId; seq: number }[]> {
    const moved = await this.store.markAllRead(userId);
    for (const { conv, seq } of moved) {
      const frame: ReadEventFrame = { type: 'read', conv, seq };
      this.publish(userTopic(userId), { kind: 'read', origin: '-', frame: JSON.stringify(frame) });
    }
    return moved;
  }

  /**
   * The first time chat sees a user (their first `ready` or conversation list): they join
   * the default channels, which the server creates on first need (owner-less). Recorded in
   * the store, so it happens once per user: a channel they leave stays left.
   */
  async welcome(userId: UserId, token: string): Promise<void> {
    if (this.seen.has(userId)) return;
    // The visit is recorded even with no default channels: turning them on later must not
    // pull in everyone who came before.
    const channels = this.options.defaultChannels.length > 0 ? await this.defaultChannels() : [];
    const joined = await this.store.welcome(userId, channels, Date.now());
    if (this.seen.size >= SEEN_MEMORY) this.seen.clear();
    this.seen.add(userId);
    for (const conv of joined) {
      await this.announceJoin(conv, [userId], 'joined', token);
      await this.announceChannelMember(conv, userId, 'member_joined', token);
    }
  }

  /** Whether the user is a member now (one store read). */
  isMember(conv: ConversationId, userId: UserId): Promise<boolean> {
    return this.store.isMember(conv, userId);
  }

  /** The membership rule for reads: throws `not_member`, or `not_found` for no such conversation. */
  async requireMember(conv: ConversationId, userId: UserId): Promise<void> {
    if (!(await this.store.isMember(conv, userId))) throw await this.notMemberOrNotFound(conv);
  }

  /** Stops background work (budget sweeps, the budget's Redis connection). */
  async close(): Promise<void> {
    for (const news of this.channelMembers.values()) clearTimeout(news.timer);
    this.channelMembers.clear();
    await this.sendBudget.stop();
  }

  /** The owner rule, read before the work that precedes the change (the store checks it again at commit). */
  private async precheckManager(conv: ConversationId, actor: UserId, change: ManagedChange): Promise<void> {
    const [record, member] = await Promise.all([
      this.store.getConversation(conv),
      this.store.isMember(conv, actor),
    ]);
    checkManager(record, member, actor, change);
  }

  /** The default channels' ids, each created (owner-less) when missing; resolved once per process. */
  private defaultChannels(): Promise<ConversationId[]> {
    this.defaultChannelIds ??= (async () => {
      const ids: ConversationId[] = [];
      for (const name of this.options.defaultChannels) {
        const channel = await this.store.ensureChannel({ name, createdBy: SYSTEM_USER_ID }, Date.now());
        if (channel.kind === 'channel') ids.push(channel.id);
      }
      return ids;
    })();
    // A failure (the store down) is tried again by the next visit.
    this.defaultChannelIds.catch(() => {
      this.defaultChannelIds = undefined;
    });
    return this.defaultChannelIds;
  }

  private async notMemberOrNotFound(conv: ConversationId): Promise<ChatError> {
    return (await this.store.getConversation(conv))
      ? new ChatError('not_member')
      : new ChatError('not_found', 'no such conversation');
  }

  /**
   * Groups and channels are capped per creator and hour: each costs every member's
   * conversation list something, and unbounded creation was how one user bloated another's.
   */
  private async requireCreationBudget(userId: UserId, now: number): Promise<void> {
    const created = await this.store.conversationsCreatedSince(userId, now - HOUR_MS);
    if (created >= this.options.conversationsPerHour) {
      throw new ChatError(
        'rate_limited',
        `at most ${this.options.conversationsPerHour} groups and channels an hour`,
        { retryAfterSec: 60 },
      );
    }
  }

  /**
   * Someone may be added to a group only by a person they have talked to: they have sent a
   * message in a DM or group that the adder is also in. Anyone can still start a DM, so a
   * stranger's first contact is a conversation the recipient can ignore — not a place in
   * their list they did not choose.
   */
  private async requireConsent(adder: UserId, others: UserId[]): Promise<void> {
    if (others.length === 0) return;
    const spoke = await this.store.spokeWith(adder, others);
    const strangers = others.filter((id) => !spoke.has(id));
    if (strangers.length > 0) {
      throw new ChatError(
        'forbidden',
        `you can add people to a group once they have written to you (not yet: ${strangers.slice(0, 5).join(', ')})`,
      );
    }
  }

  private async requireUsers(ids: UserId[], token: string): Promise<void> {
    const found = await this.directory.lookup(ids, token);
    const missing = ids.filter((id) => !found.has(id));
    if (missing.length > 0) throw new ChatError('not_found', `unknown user ${missing[0]}`);
  }

  /** Tells each new member's devices (on every replica) to subscribe, with their view of it. */
  private async announceJoin(
    conv: ConversationId,
    userIds: UserId[],
    event: ConversationEvent,
    token: string,
  ): Promise<void> {
    for (const userId of userIds) {
      const state = await this.store.conversationStateOf(conv, userId);
      if (!state) continue;
      const users = await this.directory.lookup(state.memberIds, token);
      const frame: ConversationFrame = {
        type: 'conversation',
        event,
        conversation: toConversation(state, users),
      };
      this.publish(userTopic(userId), {
        kind: 'joined',
        conv,
        convKind: state.kind,
        contacts: state.kind === 'channel' ? [] : state.memberIds.filter((id) => id !== userId),
        frame: JSON.stringify(frame),
      });
    }
  }

  /** Tells the user's devices that they are out of a conversation (their view as it was), and to unsubscribe. */
  private async announceLeft(
    conv: ConversationId,
    userId: UserId,
    state: ConversationState,
    token: string,
  ): Promise<void> {
    const users = await this.directory.lookup(state.memberIds, token);
    const frame: ConversationFrame = {
      type: 'conversation',
      event: 'left',
      conversation: toConversation(state, users),
    };
    this.publish(userTopic(userId), { kind: 'left', conv, frame: JSON.stringify(frame) });
  }

  /**
   * Tells every member who joined or left; someone who joined a DM or group is watched
   * (presence) by the others from now on.
   */
  private async announceMember(
    conv: ConversationId,
    userId: UserId,
    event: 'member_joined' | 'member_left',
    token: string,
  ): Promise<void> {
    await this.announceShared(conv, event, userId, event === 'member_joined' ? [userId] : [], token);
  }

  /**
   * A channel's member change, announced at once when the channel's member list has been
   * quiet for CHANNEL_MEMBERS_WINDOW_MS; otherwise gathered, and the window's changes are
   * announced by one frame when it ends: the channel as it is then, naming the last member who
   * joined or left. Every announcement goes to every member's devices, so a storm of new users
   * into a default channel (each first visit joins it) cost members × joiners frames, and the
   * gateway fell behind everyone's sockets; now it costs members × windows. Channels only: a
   * group's members watch each newcomer's presence, and groups are small.
   */
  private async announceChannelMember(
    conv: ConversationId,
    user: UserId,
    event: 'member_joined' | 'member_left',
    token: string,
  ): Promise<void> {
    const open = this.channelMembers.get(conv);
    if (open) {
      open.next = { event, user, token };
      return;
    }
    this.openChannelMembersWindow(conv);
    await this.announceShared(conv, event, user, [], token);
  }

  private openChannelMembersWindow(conv: ConversationId): void {
    const news: ChannelMembersNews = {
      timer: setTimeout(() => {
        this.channelMembers.delete(conv);
        const next = news.next;
        if (!next) return;
        // The window's news opens the next window: a long storm is one frame per window.
        this.openChannelMembersWindow(conv);
        this.announceShared(conv, next.event, next.user, [], next.token).catch((err: unknown) =>
          this.log.warn({ err, conv }, 'announcing channel member changes failed'),
        );
      }, CHANNEL_MEMBERS_WINDOW_MS),
    };
    news.timer.unref();
    this.channelMembers.set(conv, news);
  }

  /**
   * A change every member sees the same way (`updated`, `member_joined`, `member_left`),
   * published once on the conversation's topic. `user` is the member who joined or left,
   * or who made the change: a frame with `user` carries the shared fields only, and its
   * per-user fields (`lastReadSeq`, `unread`, `muted`, `hidden`) are nobody's.
   */
  private async announceShared(
    conv: ConversationId,
    event: 'updated' | 'member_joined' | 'member_left',
    user: UserId,
    joined: UserId[],
    token: string,
  ): Promise<void> {
    const record = await this.store.getConversation(conv);
    if (!record) return;
    const [memberIds, memberCount, last] = await Promise.all([
      this.store.listMembers(conv, MEMBERS_PREVIEW),
      this.store.memberCount(conv),
      record.lastSeq > 0 ? this.store.history(conv, { after: record.lastSeq - 1, limit: 1 }) : [],
    ]);
    const users = await this.directory.lookup(memberIds, token);
    const conversation = toConversation(
      {
        ...record,
        lastReadSeq: 0,
        unread: 0,
        unreadMentions: 0,
        mentionSeqs: [],
        muted: false,
        hidden: false,
        memberCount,
        memberIds,
        lastMessage: last[0] ?? null,
      },
      users,
    );
    const frame: ConversationFrame = { type: 'conversation', event, conversation, user };
    // Channels are public: their members do not watch each other's presence.
    const watch = record.kind === 'channel' ? [] : joined;
    this.publish(convTopic(conv), { kind: 'conversation', watch, frame: JSON.stringify(frame) });
  }

  private publish(topic: string, event: BusEvent): void {
    this.bus.publish(topic, encodeEvent(event)).catch((err: unknown) => {
      publishFailures.inc();
      this.log.warn({ err, topic }, 'publish failed; clients will recover from history');
    });
  }
}

/**
 * The mentions to store: deduplicated, in the order given, without the author (who cannot
 * mention themself); undefined when none are left. At most LIMITS.maxMentions.
 */
export function mentionsOf(mentions: readonly UserId[] | undefined, author: UserId): UserId[] | undefined {
  if (mentions === undefined) return undefined;
  const kept = [...new Set(mentions)].filter((id) => id !== author);
  if (kept.length > LIMITS.maxMentions) {
    throw fieldError('/mentions', `at most ${LIMITS.maxMentions} mentions`);
  }
  return kept.length > 0 ? kept : undefined;
}

function fieldError(field: string, message: string): ChatError {
  return new ChatError('validation_failed', message, { fields: [{ field, message }] });
}

/** The stored name of a group or channel; ChatError `validation_failed` when it is not valid. */
function nameOf(raw: string): string {
  const result = normalizeName(raw);
  if (!result.ok)
    throw new ChatError('validation_failed', result.problem, {
      fields: [{ field: '/name', message: result.problem }],
    });
  return result.name;
}

/** The stored topic of a group or channel (null: none); ChatError `validation_failed` when it is not valid. */
function topicOf(raw: string | null): string | null {
  const result = normalizeTopic(raw);
  if (!result.ok)
    throw new ChatError('validation_failed', result.problem, {
      fields: [{ field: '/topic', message: result.problem }],
    });
  return result.topic;
}

/** An opaque cursor: the position of a conversation in activity order. */
function cursorOf(state: Pick<ConversationState, 'lastActivityAt' | 'id'>): string {
  return Buffer.from(`${state.lastActivityAt}.${state.id}`).toString('base64url');
}

function parseCursor(cursor: string): ConversationCursor {
  const text = Buffer.from(cursor, 'base64url').toString();
  const dot = text.indexOf('.');
  const lastActivityAt = Number(text.slice(0, dot));
  const id = text.slice(dot + 1);
  if (dot < 0 || !Number.isSafeInteger(lastActivityAt) || !/^[A-Za-z0-9_-]{1,64}$/.test(id)) {
    throw new ChatError('validation_failed', 'cursor is not one this server gave out', {
      fields: [{ field: '/cursor', message: 'unknown cursor' }],
    });
  }
  return { lastActivityAt, id: asConversationId(id) };
}
