import {
  type AckFrame,
  asConversationId,
  ChatError,
  type Conversation,
  type ConversationEvent,
  type ConversationFrame,
  type ConversationId,
  type Message,
  type MessageFrame,
  messageBodyProblem,
  normalizeName,
  type ReadEventFrame,
  type User,
  type UserId,
} from '@relay-chat/protocol';
import { counter, type Logger } from '@relay-chat/service-kit';
import type { AppendBatcher } from './append-batcher.js';
import { toConversation, toConversations } from './conversation-view.js';
import { type BusEvent, convTopic, encodeEvent, userTopic } from './events.js';
import type { Budget } from './limits/budget.js';
import type {
  ChannelRecord,
  ConversationCursor,
  ConversationState,
  MessageStore,
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
}

const HOUR_MS = 3600_000;

const messagesStored = counter('chat_messages_stored_total', 'Messages stored', ['duplicate']);
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
   * `rate_limited` past the sender's budget, `validation_failed` for a malformed body,
   * `not_member` / `not_found` when the store refuses the sender.
   */
  async send(conv: ConversationId, sender: UserId, clientMsgId: string, body: string): Promise<SendResult> {
    const problem = messageBodyProblem(body);
    if (problem) throw new ChatError('validation_failed', problem);
    await this.sendBudget.take(sender);
    const { message, duplicate } = await this.batcher.append({
      conv,
      sender,
      clientMsgId,
      body,
      ts: Date.now(),
    });
    messagesStored.inc({ duplicate: String(duplicate) });
    const { clientMsgId: _omit, ...shown } = message;
    const frame: MessageFrame = { type: 'message', ...shown };
    // A duplicate is published again: if this replica died between commit and publish
    // the first time, the retry heals the live path (clients drop seqs they have).
    this.publish(convTopic(conv), { kind: 'message', seq: message.seq, frame: JSON.stringify(frame) });
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

  /** The first page of `states` (already in activity order) as the contract's conversations. */
  readyView(states: ConversationState[], token: string): Promise<ConversationPage> {
    return this.pageOf(states, this.options.conversationsPage, token);
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
    const states = await this.store.conversationsOf(userId, {
      limit: limit + 1,
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
    return this.store.history(conv, page);
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
      await this.announceMember(conv, user.id, 'member_joined', token);
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
    const users = await this.directory.lookup(state.memberIds, token);
    const frame: ConversationFrame = {
      type: 'conversation',
      event: 'left',
      conversation: toConversation(state, users),
    };
    this.publish(userTopic(user.id), { kind: 'left', conv, frame: JSON.stringify(frame) });
    await this.announceMember(conv, user.id, 'member_left', token);
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
    await this.sendBudget.stop();
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

  /** Tells the other members who joined or left (per-user fields of `conversation` are the actor's). */
  private async announceMember(
    conv: ConversationId,
    userId: UserId,
    event: 'member_joined' | 'member_left',
    token: string,
  ): Promise<void> {
    const record = await this.store.getConversation(conv);
    if (!record) return;
    const memberIds = await this.store.listMembers(conv, 100);
    const users = await this.directory.lookup(memberIds, token);
    const conversation = toConversation(
      {
        ...record,
        lastReadSeq: 0,
        unread: 0,
        memberCount: await this.store.memberCount(conv),
        memberIds,
        lastMessage: null,
      },
      users,
    );
    const frame: ConversationFrame = { type: 'conversation', event, conversation, user: userId };
    this.publish(convTopic(conv), { kind: 'conversation', watch: [], frame: JSON.stringify(frame) });
  }

  private publish(topic: string, event: BusEvent): void {
    this.bus.publish(topic, encodeEvent(event)).catch((err: unknown) => {
      publishFailures.inc();
      this.log.warn({ err, topic }, 'publish failed; clients will recover from history');
    });
  }
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
