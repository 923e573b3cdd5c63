import {
  type AckFrame,
  ChatError,
  type Conversation,
  type ConversationEvent,
  type ConversationFrame,
  type ConversationId,
  LIMITS,
  type Message,
  type MessageFrame,
  type ReadEventFrame,
  type User,
  type UserId,
} from '@relay-chat/protocol';
import { counter, type Logger } from '@relay-chat/service-kit';
import type { AppendBatcher } from './append-batcher.js';
import { toConversation, toConversations } from './conversation-view.js';
import { convTopic, encodeEvent, userTopic } from './events.js';
import type { ChannelRecord, MessageStore } from './store/message-store.js';
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

const messagesStored = counter('chat_messages_stored_total', 'Messages stored', ['duplicate']);
const publishFailures = counter(
  'chat_publish_failures_total',
  'Bus publishes that failed (clients recover from the store)',
);

/**
 * What chat does, shared by the WebSocket gateway and the REST routes: store first, then
 * publish. Membership is checked here for REST callers; the gateway checks its own cache.
 */
export class ChatCore {
  constructor(
    private readonly store: MessageStore,
    private readonly batcher: AppendBatcher,
    private readonly bus: Publisher,
    readonly directory: UserDirectory,
    private readonly log: Logger,
  ) {}

  /** Stores a message (idempotent on clientMsgId), then publishes it. The caller checked membership. */
  async send(sender: UserId, conv: ConversationId, clientMsgId: string, body: string): Promise<SendResult> {
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
    this.publish(convTopic(conv), encodeEvent({ kind: 'm', frame: JSON.stringify(frame) }));
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

  /** REST send: checks membership and limits first. */
  async sendChecked(
    sender: UserId,
    conv: ConversationId,
    clientMsgId: string,
    body: string,
  ): Promise<SendResult> {
    await this.requireMember(conv, sender);
    if (body.length === 0 || body.length > LIMITS.maxBodyChars) {
      throw new ChatError('validation_failed', `body must be 1 to ${LIMITS.maxBodyChars} characters`);
    }
    return this.send(sender, conv, clientMsgId, body);
  }

  /** Moves the read marker; tells the user's other devices. `origin` is the session to skip. */
  async markRead(userId: UserId, conv: ConversationId, seq: number, origin = '-'): Promise<number> {
    const stored = await this.store.markRead(conv, userId, seq);
    const frame: ReadEventFrame = { type: 'read', conv, seq: stored };
    this.publish(userTopic(userId), encodeEvent({ kind: 'r', origin, frame: JSON.stringify(frame) }));
    return stored;
  }

  async conversationsOf(userId: UserId, token: string): Promise<Conversation[]> {
    return toConversations(await this.store.conversationsOf(userId), this.directory, token);
  }

  async conversationOf(userId: UserId, conv: ConversationId, token: string): Promise<Conversation> {
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
      return { conversation: await this.conversationOf(creator.id, conversation.id, token), created };
    }
    if (input.kind === 'group') {
      const members = [...new Set(input.members.filter((m) => m !== creator.id))];
      if (members.length + 1 > LIMITS.maxGroupMembers) {
        throw new ChatError('validation_failed', `a group has at most ${LIMITS.maxGroupMembers} members`);
      }
      await this.requireUsers(members, token);
      const record = await this.store.createGroup(
        { name: input.name.trim(), createdBy: creator.id, members },
        now,
      );
      await this.announceJoin(record.id, [creator.id, ...members], 'created', token);
      return { conversation: await this.conversationOf(creator.id, record.id, token), created: true };
    }
    const record = await this.store.createChannel({ name: input.name.trim(), createdBy: creator.id }, now);
    await this.announceJoin(record.id, [creator.id], 'created', token);
    return { conversation: await this.conversationOf(creator.id, record.id, token), created: true };
  }

  /** Joins a public channel (idempotent). */
  async join(user: User, conv: ConversationId, token: string): Promise<Conversation> {
    const record = await this.store.getConversation(conv);
    if (!record) throw new ChatError('not_found', 'no such conversation');
    if (record.kind !== 'channel') throw new ChatError('forbidden', 'only public channels can be joined');
    if (await this.store.addMember(conv, user.id, Date.now())) {
      await this.announceJoin(conv, [user.id], 'joined', token);
      await this.announceMember(conv, user.id, 'member_joined', token);
    }
    return this.conversationOf(user.id, conv, token);
  }

  /** Leaves a group or channel. */
  async leave(user: User, conv: ConversationId, token: string): Promise<void> {
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
    this.publish(userTopic(user.id), encodeEvent({ kind: 'l', conv, frame: JSON.stringify(frame) }));
    await this.announceMember(conv, user.id, 'member_left', token);
  }

  async requireMember(conv: ConversationId, userId: UserId): Promise<void> {
    if (!(await this.store.isMember(conv, userId))) throw await this.notMemberOrNotFound(conv);
  }

  private async notMemberOrNotFound(conv: ConversationId): Promise<ChatError> {
    return (await this.store.getConversation(conv))
      ? new ChatError('not_member')
      : new ChatError('not_found', 'no such conversation');
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
      this.publish(userTopic(userId), encodeEvent({ kind: 'j', conv, frame: JSON.stringify(frame) }));
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
    this.publish(convTopic(conv), encodeEvent({ kind: 'c', frame: JSON.stringify(frame) }));
  }

  private publish(topic: string, payload: string): void {
    this.bus.publish(topic, payload).catch((err: unknown) => {
      publishFailures.inc();
      this.log.warn({ err, topic }, 'publish failed; clients will recover from history');
    });
  }
}
