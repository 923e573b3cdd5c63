import type {
  ChannelListing,
  Conversation,
  ConversationId,
  ConversationKind,
  Message,
  MessageId,
  SearchHit,
  SearchResponse,
  UserId,
} from '@relay-chat/protocol';
import { ChatError } from '@relay-chat/protocol';
import { type ApiClient, expectArray, expectObject } from './api.js';

/** The body of `POST /api/chat/conversations`. */
export type CreateConversationInput =
  | { kind: Extract<ConversationKind, 'dm'>; with: UserId }
  | { kind: Extract<ConversationKind, 'group'>; name: string; members: UserId[] }
  | { kind: Extract<ConversationKind, 'channel'>; name: string };

/** A history page request by seq cursor: `after` pages forward, `before` backward, neither = newest. */
export interface HistoryPage {
  before?: number;
  after?: number;
  /** At most LIMITS.maxHistoryPage (200). */
  limit?: number;
}

/** A page of the channel directory; pass `nextCursor` back as `cursor` (null on the last page). */
export interface ChannelPage {
  channels: ChannelListing[];
  nextCursor: string | null;
}

/** A change of a group or channel (its owner only): a new name, a topic (null or '': none), or both. */
export interface ConversationChange {
  name?: string;
  topic?: string | null;
}

/** The caller's own settings of a conversation; absent fields stay as they are. */
export interface ConversationSettings {
  /** No badges or notifications for it (the client's rule), except for mentions. */
  muted?: boolean;
  /** DMs only: left out of the list until its next message. */
  hidden?: boolean;
}

/** A read marker that moved: the conversation and the seq now read. */
export interface ReadMarker {
  conv: ConversationId;
  seq: number;
}

/** What sending over HTTP answers: the ack, and whether the clientMsgId had been stored before. */
export interface SendResult {
  clientMsgId: string;
  conv: ConversationId;
  id: MessageId;
  seq: number;
  ts: number;
  duplicate: boolean;
}

/** What sending may carry besides the body (protocol v1.2). */
export interface SendOptions {
  /** The seq of the message of the same conversation this one answers. */
  replyTo?: number;
  /** Members mentioned, as user ids. */
  mentions?: readonly UserId[];
}

/** Filters and paging of a message search (`GET /api/chat/search`). */
export interface SearchOptions {
  /** Only this conversation. */
  conv?: ConversationId;
  /** Only messages by this user. */
  author?: UserId;
  /** Only messages sent before this time (ms, exclusive). */
  before?: number;
  /** Only messages sent at or after this time (ms, inclusive). */
  after?: number;
  /** 1..LIMITS.maxSearchPage (50); the server's default is 20. */
  limit?: number;
  /** The previous page's `nextCursor`, with the same query and filters. */
  cursor?: string;
  /** Cancels the request (a newer query replaced it). */
  signal?: AbortSignal;
}

/** The answer to an edit, a delete or a reaction: the message's state after it, and whether anything changed. */
export interface ChangeResult {
  message: Message;
  /** False for a repeat (same body and mentions, a reaction already set or cleared, a delete of a tombstone). */
  changed: boolean;
}

/** A page of changes: the messages changed after `after`, once each in their current state, ascending changeSeq. */
export interface ChangesResult {
  messages: Message[];
  /** The conversation's change counter now. */
  lastChangeSeq: number;
}

/** A thread: its root and a page of its replies, ascending by seq. */
export interface ThreadPage {
  root: Message;
  messages: Message[];
}

/** The chat service's REST routes (`/api/chat`). Every method throws ChatError on failure. */
export class ChatApi {
  readonly #client: ApiClient;

  constructor(client: ApiClient) {
    this.#client = client;
  }

  /** All the caller's conversations with lastSeq, lastReadSeq, unread and members (every page). */
  async conversations(): Promise<Conversation[]> {
    const all: Conversation[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.conversationsPage(cursor);
      all.push(...page.conversations);
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
    return all;
  }

  /** One page of the caller's conversations, most recent activity first; `cursor` is the previous page's `nextCursor`. */
  async conversationsPage(
    cursor?: string,
  ): Promise<{ conversations: Conversation[]; nextCursor: string | null }> {
    const query = cursor === undefined ? '' : `?cursor=${encodeURIComponent(cursor)}`;
    const body = await this.#client.request<{ conversations?: Conversation[]; nextCursor?: string | null }>(
      'GET',
      `/api/chat/conversations${query}`,
    );
    return {
      conversations: expectArray<Conversation>(body?.conversations, 'conversations'),
      nextCursor: typeof body?.nextCursor === 'string' ? body.nextCursor : null,
    };
  }

  /** Creates a DM (idempotent: the existing one for that pair), a group, or a public channel. */
  async createConversation(input: CreateConversationInput): Promise<Conversation> {
    const body = await this.#client.request<{ conversation?: Conversation }>(
      'POST',
      '/api/chat/conversations',
      {
        body: input,
      },
    );
    return expectObject(body?.conversation, 'conversation');
  }

  createDm(userId: UserId): Promise<Conversation> {
    return this.createConversation({ kind: 'dm', with: userId });
  }

  createGroup(name: string, members: UserId[]): Promise<Conversation> {
    return this.createConversation({ kind: 'group', name, members });
  }

  createChannel(name: string): Promise<Conversation> {
    return this.createConversation({ kind: 'channel', name });
  }

  /** One of the caller's conversations; `not_found` / `not_member` otherwise. */
  async conversation(conv: ConversationId): Promise<Conversation> {
    const body = await this.#client.request<{ conversation?: Conversation }>('GET', path(conv));
    return expectObject(body?.conversation, 'conversation');
  }

  /** The public channel directory by name; `q` is a name prefix, `limit` ≤ 100 (default 50). */
  async channels(options: { q?: string; limit?: number; cursor?: string } = {}): Promise<ChannelPage> {
    const body = await this.#client.request<Partial<ChannelPage>>('GET', '/api/chat/channels', {
      query: { ...options },
    });
    return {
      channels: expectArray<ChannelListing>(body?.channels, 'channels'),
      nextCursor: body?.nextCursor ?? null,
    };
  }

  /** Joins a public channel; returns it when the server includes it in the answer. */
  async join(conv: ConversationId): Promise<Conversation | undefined> {
    const body = await this.#client.request<{ conversation?: Conversation } | undefined>(
      'POST',
      `${path(conv)}/join`,
    );
    return body?.conversation;
  }

  async leave(conv: ConversationId): Promise<void> {
    await this.#client.request<unknown>('POST', `${path(conv)}/leave`);
  }

  /** Renames a group or channel and/or sets its topic; its owner only (`forbidden` otherwise). */
  async updateConversation(conv: ConversationId, change: ConversationChange): Promise<Conversation> {
    const body = await this.#client.request<{ conversation?: Conversation }>('PATCH', path(conv), {
      body: change,
    });
    return expectObject(body?.conversation, 'conversation');
  }

  /** Adds people to a group; its owner only, and each must have written to the owner. */
  async addMembers(conv: ConversationId, members: UserId[]): Promise<Conversation> {
    const body = await this.#client.request<{ conversation?: Conversation }>(
      'POST',
      `${path(conv)}/members`,
      {
        body: { members },
      },
    );
    return expectObject(body?.conversation, 'conversation');
  }

  /** Removes someone from a group; its owner only (removing yourself is leaving). */
  async removeMember(conv: ConversationId, user: UserId): Promise<void> {
    await this.#client.request<unknown>('DELETE', `${path(conv)}/members/${encodeURIComponent(user)}`);
  }

  /** Changes the caller's own settings (mute; hide a DM until its next message); returns their view. */
  async updateSettings(conv: ConversationId, settings: ConversationSettings): Promise<Conversation> {
    const body = await this.#client.request<{ conversation?: Conversation }>(
      'PUT',
      `${path(conv)}/settings`,
      {
        body: settings,
      },
    );
    return expectObject(body?.conversation, 'conversation');
  }

  /** Marks every conversation read at its last message; returns the markers that moved. */
  async markAllRead(): Promise<ReadMarker[]> {
    const body = await this.#client.request<{ read?: ReadMarker[] }>('POST', '/api/chat/conversations/read');
    return expectArray<ReadMarker>(body?.read, 'read');
  }

  /** A page of history, ascending by seq. */
  async history(conv: ConversationId, page: HistoryPage = {}): Promise<Message[]> {
    const body = await this.#client.request<{ messages?: Message[] }>('GET', `${path(conv)}/messages`, {
      query: { before: page.before, after: page.after, limit: page.limit },
    });
    return expectArray<Message>(body?.messages, 'messages');
  }

  /** Sends over HTTP (bots, scripts); idempotent per clientMsgId like the socket. */
  async sendMessage(
    conv: ConversationId,
    input: { clientMsgId: string; body: string } & SendOptions,
  ): Promise<SendResult> {
    const { replyTo, mentions, ...rest } = input;
    const body = await this.#client.request<Partial<SendResult> & { message?: Message }>(
      'POST',
      `${path(conv)}/messages`,
      {
        body: {
          ...rest,
          ...(replyTo === undefined ? {} : { replyTo }),
          ...(mentions === undefined ? {} : { mentions: [...mentions] }),
        },
      },
    );
    const fields = body?.message ?? body;
    if (!fields || typeof fields.id !== 'string' || typeof fields.seq !== 'number') {
      throw new ChatError('internal', 'unexpected response: no ack');
    }
    return {
      clientMsgId: fields.clientMsgId ?? input.clientMsgId,
      conv: fields.conv ?? conv,
      id: fields.id,
      seq: fields.seq,
      ts: fields.ts ?? Date.now(),
      duplicate: body?.duplicate ?? false,
    };
  }

  /**
   * The messages changed after `after` (changeSeq), once each in their current state,
   * ascending by changeSeq; `limit` ≤ LIMITS.maxChangesPage (200, default 100). A full page
   * may be followed by more: ask again after its last changeSeq.
   */
  async changes(conv: ConversationId, after: number, limit?: number): Promise<ChangesResult> {
    const body = await this.#client.request<Partial<ChangesResult>>('GET', `${path(conv)}/changes`, {
      query: { after, limit },
    });
    const messages = expectArray<Message>(body?.messages, 'messages');
    const last = messages.reduce((max, m) => Math.max(max, m.changeSeq ?? 0), after);
    return {
      messages,
      lastChangeSeq: typeof body?.lastChangeSeq === 'number' ? body.lastChangeSeq : last,
    };
  }

  /** A thread's root and its replies after `after` (seq), ascending; `limit` ≤ 200. */
  async thread(
    conv: ConversationId,
    root: number,
    options: { after?: number; limit?: number } = {},
  ): Promise<ThreadPage> {
    const body = await this.#client.request<Partial<ThreadPage>>('GET', `${messagePath(conv, root)}/thread`, {
      query: { after: options.after, limit: options.limit },
    });
    return {
      root: expectObject(body?.root, 'root'),
      messages: expectArray<Message>(body?.messages, 'messages'),
    };
  }

  /** The messages around `seq` (it in the middle), ascending: to show a replied-to message in its context. */
  async around(conv: ConversationId, seq: number, limit?: number): Promise<Message[]> {
    const body = await this.#client.request<{ messages?: Message[] }>('GET', `${path(conv)}/messages`, {
      query: { around: seq, limit },
    });
    return expectArray<Message>(body?.messages, 'messages');
  }

  /**
   * Messages of the caller's conversations matching `q` (words, prefixes, substrings of 3+
   * characters, CJK, "quoted phrases"), best first, each with the UTF-16 ranges of its body
   * to highlight. A query with nothing searchable is `validation_failed`; a cursor pages on.
   */
  async search(q: string, options: SearchOptions = {}): Promise<SearchResponse> {
    const { signal, ...filters } = options;
    const body = await this.#client.request<Partial<SearchResponse>>('GET', '/api/chat/search', {
      query: { q, ...filters },
      ...(signal ? { signal } : {}),
    });
    return {
      hits: expectArray<SearchHit>(body?.hits, 'hits'),
      nextCursor: typeof body?.nextCursor === 'string' ? body.nextCursor : null,
    };
  }

  /** One message in its current state (from history); `not_found` when there is no such seq. */
  async message(conv: ConversationId, seq: number): Promise<Message> {
    const page = await this.history(conv, { after: seq - 1, limit: 1 });
    const found = page.find((m) => m.seq === seq);
    if (!found) throw new ChatError('not_found', `no message ${seq}`);
    return found;
  }

  /** Replaces the body (and the mentions) of one of the caller's own messages. */
  editMessage(
    conv: ConversationId,
    seq: number,
    input: { body: string; mentions?: readonly UserId[] },
  ): Promise<ChangeResult> {
    const { body, mentions } = input;
    return this.#change('PATCH', messagePath(conv, seq), {
      body,
      ...(mentions === undefined ? {} : { mentions: [...mentions] }),
    });
  }

  /** Deletes a message (the sender's own, or any in a group or channel the caller owns): a tombstone stays. */
  deleteMessage(conv: ConversationId, seq: number): Promise<ChangeResult> {
    return this.#change('DELETE', messagePath(conv, seq));
  }

  /** Sets the caller's reaction with `emoji` (idempotent). */
  setReaction(conv: ConversationId, seq: number, emoji: string): Promise<ChangeResult> {
    return this.#change('PUT', `${messagePath(conv, seq)}/reactions/${encodeURIComponent(emoji)}`);
  }

  /** Clears the caller's reaction with `emoji` (idempotent). */
  clearReaction(conv: ConversationId, seq: number, emoji: string): Promise<ChangeResult> {
    return this.#change('DELETE', `${messagePath(conv, seq)}/reactions/${encodeURIComponent(emoji)}`);
  }

  async #change(method: 'PATCH' | 'DELETE' | 'PUT', url: string, input?: unknown): Promise<ChangeResult> {
    const body = await this.#client.request<Partial<ChangeResult>>(
      method,
      url,
      input === undefined ? {} : { body: input },
    );
    return { message: expectObject(body?.message, 'message'), changed: body?.changed !== false };
  }

  /** Moves the caller's read marker forward to `seq`; returns the marker now stored. */
  async markRead(conv: ConversationId, seq: number): Promise<number> {
    const body = await this.#client.request<{ lastReadSeq?: number }>('POST', `${path(conv)}/read`, {
      body: { seq },
    });
    return typeof body?.lastReadSeq === 'number' ? body.lastReadSeq : seq;
  }

  /** Which of `users` (at most 200) are online now; live changes come as `presence` events. */
  async presence(users: readonly UserId[]): Promise<Set<UserId>> {
    if (users.length === 0) return new Set();
    const body = await this.#client.request<{ online?: UserId[] }>('GET', '/api/chat/presence', {
      query: { users: users.join(',') },
    });
    return new Set(expectArray<UserId>(body?.online, 'online'));
  }
}

function path(conv: ConversationId): string {
  return `/api/chat/conversations/${encodeURIComponent(conv)}`;
}

function messagePath(conv: ConversationId, seq: number): string {
  return `${path(conv)}/messages/${encodeURIComponent(String(seq))}`;
}
