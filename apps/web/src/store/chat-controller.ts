import {
  type ChannelListing,
  type ChatError,
  type Conversation,
  type ConversationId,
  LIMITS,
  type Message,
  type SearchResponse,
  toChatError,
  type UserId,
} from '@relay-chat/protocol';
import {
  ChatClient,
  type ConnectionState,
  gatewayUrlOf,
  type OutboxEntry,
  type StateChange,
} from '@relay-chat/sdk';
import { oldestSeq } from '../lib/history.js';
import type { AuthSession } from './auth-session.js';
import type { ChatActions, OpenResult, SendOptions, UserPage } from './chat-actions.js';
import { type ChatState, type LinkStatus, threadKey } from './chat-state.js';
import type { ChatStore } from './chat-store.js';
import { clearDrafts } from './drafts.js';
import { clearOutbox, loadOutbox, saveOutbox } from './outbox-storage.js';

/** Size of a page of older history. */
const OLDER_PAGE = 50;
/** The newest page is at least this big, so a conversation opens with context above. */
const FIRST_PAGE_MIN = 50;
/** Pages fetched at most, on open, to reach the first unread message. */
const MAX_UNREAD_PAGES = 5;
/** Users per presence query (the server's bound). */
const PRESENCE_BATCH = 200;
/** Messages loaded around a message jumped to. */
const AROUND_PAGE = 40;
/** Message search hits per page. */
const SEARCH_PAGE = 20;
/** Replies per page of a thread. */
const THREAD_PAGE = 50;

/**
 * The bridge between the SDK and the screens: turns ChatClient events into store actions,
 * and implements ChatActions (what the screens ask for) with the client and the REST APIs.
 */
export class ChatController implements ChatActions {
  readonly client: ChatClient;
  readonly #store: ChatStore;
  readonly #auth: AuthSession;
  readonly #unsubscribe: Array<() => void> = [];
  /** Conversations whose newest page was loaded this session. */
  readonly #loaded = new Set<ConversationId>();
  readonly #opening = new Map<ConversationId, Promise<void>>();
  readonly #loadingOlder = new Map<ConversationId, Promise<void>>();
  #typingTimer: ReturnType<typeof setInterval> | undefined;
  readonly #namesWanted = new Set<UserId>();
  readonly #namesAsked = new Set<UserId>();
  /** What our own queued replies answer, by clientMsgId (the ack does not repeat it). */
  readonly #replies = new Map<string, { replyTo: number; mentions?: UserId[] }>();
  #namesTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(store: ChatStore, auth: AuthSession, origin: string = window.location.origin) {
    this.#store = store;
    this.#auth = auth;
    this.client = new ChatClient({
      url: gatewayUrlOf(origin),
      httpUrl: origin,
      getToken: auth.session.getToken,
      reconnect: { baseDelayMs: 500, maxDelayMs: 10_000 },
    });
  }

  /** Subscribes to the client and connects. */
  start(): void {
    const { client } = this;
    const dispatch = this.#store.dispatch;
    const me = this.#auth.getUser();
    if (me) dispatch({ type: 'signedIn', me });
    this.#unsubscribe.push(
      client.on('state', (change) => this.#onState(change)),
      // After a reconnect the client itself fetches what was missed, as `message` events.
      client.on('ready', (frame) =>
        dispatch({
          type: 'ready',
          me: frame.user,
          conversations: frame.conversations,
          online: frame.online ?? [],
        }),
      ),
      client.on('message', (message) => {
        dispatch({ type: 'messages', conv: message.conv, messages: [message] });
        this.#resolveNames([message]);
        this.#syncMentions(message.conv);
      }),
      // An edit, a delete, a reaction or a new reply to a root: the message's whole new state,
      // at most once per changeSeq and in changeSeq order (the SDK fills gaps and catches up).
      client.on('change', ({ conv, message }) => {
        dispatch({ type: 'changes', conv, messages: [message] });
        this.#syncMentions(conv);
      }),
      client.on('outbox', ({ entry }) => this.#onOutbox(entry)),
      client.on('typing', ({ conv, user }) => dispatch({ type: 'typing', conv, user, now: Date.now() })),
      client.on('presence', ({ user, status }) => dispatch({ type: 'presence', user, status })),
      client.on('read', ({ conv, seq }) => {
        dispatch({ type: 'read', conv, seq });
        this.#syncMentions(conv);
      }),
      client.on('conversation', ({ event, conversation }) => {
        if (event === 'left') {
          this.#loaded.delete(conversation.id);
          dispatch({ type: 'conversationRemoved', id: conversation.id });
        } else {
          const membersOnly = event === 'member_joined' || event === 'member_left';
          dispatch({ type: 'conversation', conversation, membersOnly });
        }
      }),
    );
    // The browser knows about a lost network before the socket does; the client's own state
    // takes over again once the network is back.
    const onOnline = () => {
      dispatch({ type: 'link', status: linkStatusOf(client.state) });
      client.reconnectNow();
    };
    const onOffline = () => dispatch({ type: 'link', status: 'offline' });
    window.addEventListener('online', onOnline);
    window.addEventListener('offline', onOffline);
    this.#unsubscribe.push(() => {
      window.removeEventListener('online', onOnline);
      window.removeEventListener('offline', onOffline);
    });
    this.#typingTimer = setInterval(() => {
      if (this.#store.getState().typing.size > 0) dispatch({ type: 'typingExpired', now: Date.now() });
    }, 1000);
    // Messages that were still unacknowledged when the page went away are queued again.
    if (me) {
      for (const entry of loadOutbox(localStorage, me.id)) {
        try {
          client.send(entry.conv, entry.body, {
            clientMsgId: entry.clientMsgId,
            ...(entry.replyTo !== undefined ? { replyTo: entry.replyTo } : {}),
            ...(entry.mentions ? { mentions: entry.mentions } : {}),
          });
          if (entry.replyTo !== undefined) this.#replies.set(entry.clientMsgId, { replyTo: entry.replyTo });
        } catch {
          // No longer sendable (limits changed): drop it.
        }
      }
      this.#saveOutbox();
    }
    client.connect();
    // The list over REST too, so the sidebar fills even while the socket is slow or blocked.
    client.api
      .conversations()
      .then((conversations) => dispatch({ type: 'bootstrap', conversations }))
      .catch(() => {});
  }

  stop(): void {
    for (const off of this.#unsubscribe.splice(0)) off();
    clearInterval(this.#typingTimer);
    clearTimeout(this.#namesTimer);
    this.#namesTimer = undefined;
    this.client.close();
  }

  #onState(change: StateChange): void {
    this.#store.dispatch({ type: 'link', status: linkStatusOf(change.state) });
    const code = change.error?.code;
    if (change.state === 'closed' && (code === 'unauthorized' || code === 'invalid_refresh_token')) {
      // The session is over (revoked or expired for good): back to the sign-in screen.
      this.#auth.session.clear();
    }
  }

  #saveOutbox(): void {
    const me = this.#auth.getUser();
    if (me) saveOutbox(localStorage, me.id, this.client.outbox());
  }

  #onOutbox(entry: OutboxEntry): void {
    const code = entry.error?.code;
    if (
      entry.status === 'failed' &&
      (code === 'not_member' || code === 'not_found') &&
      !this.#store.getState().conversations.has(entry.conv)
    ) {
      // Restored for a conversation we have left since: nowhere to show it, nothing to retry.
      this.client.discard(entry.clientMsgId);
      this.#saveOutbox();
      this.#store.dispatch({ type: 'pendingSettled', conv: entry.conv, clientMsgId: entry.clientMsgId });
      return;
    }
    this.#saveOutbox();
    const dispatch = this.#store.dispatch;
    const { conv, clientMsgId, body, createdAt } = entry;
    if (entry.status === 'sent' && entry.ack) {
      const me = this.#store.getState().me;
      if (me) {
        const { id, seq, ts } = entry.ack;
        const kept = this.#replies.get(clientMsgId);
        this.#replies.delete(clientMsgId);
        const replyTo = entry.replyTo ?? kept?.replyTo;
        const mentions = entry.mentions ?? kept?.mentions;
        const message: Message = {
          conv,
          seq,
          id,
          from: me.id,
          body,
          ts,
          clientMsgId,
          ...(replyTo !== undefined ? replyFields(this.#store.getState(), conv, replyTo) : {}),
          ...(mentions && mentions.length > 0 ? { mentions: [...mentions] } : {}),
        };
        dispatch({ type: 'messages', conv, messages: [message] });
      }
      dispatch({ type: 'pendingSettled', conv, clientMsgId });
      return;
    }
    const status = entry.status === 'failed' ? 'failed' : 'sending';
    dispatch({
      type: 'pending',
      message: {
        clientMsgId,
        conv,
        body,
        createdAt,
        status,
        ...(entry.replyTo !== undefined ? { replyTo: entry.replyTo } : {}),
        ...(entry.error ? { error: describeSendError(entry.error) } : {}),
      },
    });
  }

  // ---- ChatActions ---------------------------------------------------------------------

  send(conv: ConversationId, body: string, options: SendOptions = {}): void {
    const mentions = options.mentions && options.mentions.length > 0 ? options.mentions : undefined;
    const handle = this.client.send(conv, body, {
      ...(options.replyTo !== undefined ? { replyTo: options.replyTo } : {}),
      ...(mentions ? { mentions } : {}),
    });
    if (options.replyTo !== undefined) {
      this.#replies.set(handle.clientMsgId, { replyTo: options.replyTo, ...(mentions ? { mentions } : {}) });
    }
  }

  async edit(conv: ConversationId, seq: number, body: string, mentions: UserId[] = []): Promise<void> {
    const message = await this.client.edit(conv, seq, body, { mentions });
    this.#store.dispatch({ type: 'changes', conv, messages: [message] });
  }

  async deleteMessage(conv: ConversationId, seq: number): Promise<void> {
    const message = await this.client.deleteMessage(conv, seq);
    this.#store.dispatch({ type: 'changes', conv, messages: [message] });
  }

  async react(conv: ConversationId, seq: number, emoji: string, on: boolean): Promise<void> {
    const message = await this.client.react(conv, seq, emoji, on);
    this.#store.dispatch({ type: 'changes', conv, messages: [message] });
  }

  async loadAround(conv: ConversationId, seq: number): Promise<void> {
    const messages = await this.client.api.around(conv, seq, AROUND_PAGE);
    this.#store.dispatch({ type: 'context', conv, messages });
    this.#resolveNames(messages);
  }

  async loadGap(conv: ConversationId, before: number): Promise<void> {
    const messages = await this.client.api.history(conv, { before, limit: OLDER_PAGE });
    this.#store.dispatch({ type: 'context', conv, messages });
    this.#resolveNames(messages);
  }

  async loadNewer(conv: ConversationId, after: number): Promise<void> {
    const messages = await this.client.api.history(conv, { after, limit: OLDER_PAGE });
    this.#store.dispatch({ type: 'context', conv, messages });
    this.#resolveNames(messages);
  }

  async searchMessages(
    query: string,
    options: { cursor?: string; signal?: AbortSignal } = {},
  ): Promise<SearchResponse> {
    const page = await this.client.api.search(query, {
      limit: SEARCH_PAGE,
      ...(options.cursor !== undefined ? { cursor: options.cursor } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    this.#resolveNames(page.hits.map((h) => h.message));
    return page;
  }

  async openThread(conv: ConversationId, root: number): Promise<void> {
    const page = await this.client.api.thread(conv, root, { limit: THREAD_PAGE });
    this.#store.dispatch({
      type: 'threadPage',
      conv,
      root: page.root,
      replies: page.messages,
      limit: THREAD_PAGE,
      reset: true,
    });
    this.#resolveNames([page.root, ...page.messages]);
  }

  async loadMoreReplies(conv: ConversationId, root: number): Promise<void> {
    const thread = this.#store.getState().threads.get(threadKey(conv, root));
    const after = thread?.replies.at(-1)?.seq;
    const page = await this.client.api.thread(conv, root, {
      ...(after !== undefined ? { after } : {}),
      limit: THREAD_PAGE,
    });
    this.#store.dispatch({
      type: 'threadPage',
      conv,
      root: page.root,
      replies: page.messages,
      limit: THREAD_PAGE,
    });
    this.#resolveNames(page.messages);
  }

  retry(_conv: ConversationId, clientMsgId: string): void {
    this.client.retry(clientMsgId);
  }

  discard(conv: ConversationId, clientMsgId: string): void {
    this.client.discard(clientMsgId);
    this.#saveOutbox();
    this.#store.dispatch({ type: 'pendingSettled', conv, clientMsgId });
  }

  async open(conv: ConversationId): Promise<OpenResult> {
    const known = this.#store.getState().conversations.get(conv);
    const firstUnreadSeq = known && known.lastSeq > known.lastReadSeq ? known.lastReadSeq + 1 : undefined;
    if (!this.#loaded.has(conv)) {
      let opening = this.#opening.get(conv);
      if (!opening) {
        opening = this.#loadFirstPages(conv, firstUnreadSeq, known).finally(() => this.#opening.delete(conv));
        this.#opening.set(conv, opening);
      }
      await opening;
    }
    return { firstUnreadSeq };
  }

  async #loadFirstPages(
    conv: ConversationId,
    firstUnreadSeq: number | undefined,
    known: Conversation | undefined,
  ): Promise<void> {
    const unread = known ? known.lastSeq - known.lastReadSeq : 0;
    const limit = Math.min(LIMITS.maxHistoryPage, Math.max(FIRST_PAGE_MIN, unread + 20));
    const page = await this.client.api.history(conv, { limit });
    this.#store.dispatch({ type: 'olderPage', conv, messages: page, limit });
    this.#resolveNames(page);
    this.#loaded.add(conv);
    for (let i = 0; firstUnreadSeq !== undefined && i < MAX_UNREAD_PAGES; i += 1) {
      const history = this.#store.getState().histories.get(conv);
      const oldest = history && oldestSeq(history);
      if (!history?.hasOlder || oldest === undefined || oldest <= firstUnreadSeq) break;
      await this.#fetchOlder(conv, LIMITS.maxHistoryPage);
    }
  }

  loadOlder(conv: ConversationId): Promise<void> {
    let loading = this.#loadingOlder.get(conv);
    if (!loading) {
      loading = this.#fetchOlder(conv, OLDER_PAGE).finally(() => this.#loadingOlder.delete(conv));
      this.#loadingOlder.set(conv, loading);
    }
    return loading;
  }

  async #fetchOlder(conv: ConversationId, limit: number): Promise<void> {
    const history = this.#store.getState().histories.get(conv);
    if (history && !history.hasOlder) return;
    const before = history && oldestSeq(history);
    const page = await this.client.api.history(conv, before === undefined ? { limit } : { before, limit });
    this.#store.dispatch({ type: 'olderPage', conv, messages: page, limit });
    this.#resolveNames(page);
  }

  markRead(conv: ConversationId, seq: number): void {
    const known = this.#store.getState().conversations.get(conv);
    if (!known || seq <= known.lastReadSeq) return;
    this.client.markRead(conv, seq);
    this.#store.dispatch({ type: 'read', conv, seq });
    this.#syncMentions(conv);
  }

  /** Takes the SDK's live mention counts of a conversation (it keeps them exact across events). */
  #syncMentions(conv: ConversationId): void {
    const known = this.client.conversation(conv);
    if (!known || known.unreadMentions === undefined) return;
    this.#store.dispatch({
      type: 'mentions',
      conv,
      unreadMentions: known.unreadMentions,
      mentionSeqs: known.mentionSeqs ?? [],
    });
  }

  async markAllRead(): Promise<void> {
    // One request; the server's `read` frames reach the other devices.
    const moved = await this.client.markAllRead();
    for (const { conv, seq } of moved) this.#store.dispatch({ type: 'read', conv, seq });
  }

  typing(conv: ConversationId): void {
    this.client.typing(conv);
  }

  async openDm(user: UserId): Promise<ConversationId> {
    const { conversations, me } = this.#store.getState();
    for (const conv of conversations.values()) {
      if (conv.kind !== 'dm') continue;
      const others = conv.members.filter((m) => m.id !== me?.id);
      if ((user === me?.id && others.length === 0) || (others.length === 1 && others[0]!.id === user))
        return conv.id;
    }
    return this.#created(await this.client.createConversation({ kind: 'dm', with: user }));
  }

  async createGroup(name: string, members: UserId[]): Promise<ConversationId> {
    return this.#created(await this.client.createConversation({ kind: 'group', name, members }));
  }

  async createChannel(name: string): Promise<ConversationId> {
    return this.#created(await this.client.createConversation({ kind: 'channel', name }));
  }

  async join(conv: ConversationId): Promise<void> {
    const conversation = await this.client.join(conv);
    if (conversation) this.#store.dispatch({ type: 'conversation', conversation });
  }

  async leave(conv: ConversationId): Promise<void> {
    await this.client.leave(conv);
    this.#loaded.delete(conv);
    this.#store.dispatch({ type: 'conversationRemoved', id: conv });
  }

  async updateConversation(
    conv: ConversationId,
    change: { name?: string; topic?: string | null },
  ): Promise<void> {
    // The SDK announces the answer as an `updated` event, which lands in the store.
    await this.client.updateConversation(conv, change);
  }

  async addMembers(conv: ConversationId, members: UserId[]): Promise<void> {
    await this.client.addMembers(conv, members);
  }

  async removeMember(conv: ConversationId, user: UserId): Promise<void> {
    await this.client.removeMember(conv, user);
  }

  async setMuted(conv: ConversationId, muted: boolean): Promise<void> {
    await this.client.mute(conv, muted);
  }

  async hide(conv: ConversationId): Promise<void> {
    await this.client.hide(conv);
  }

  async channels(query: string): Promise<ChannelListing[]> {
    const page = await this.client.api.channels({ ...(query ? { q: query } : {}), limit: 100 });
    return page.channels;
  }

  async users(query: string, cursor?: string): Promise<UserPage> {
    const page = await this.#auth.authApi.users({
      ...(query ? { q: query } : {}),
      ...(cursor ? { cursor } : {}),
      limit: 50,
    });
    this.#store.dispatch({ type: 'users', users: page.users });
    return page;
  }

  async refreshPresence(users: UserId[]): Promise<void> {
    for (let i = 0; i < users.length; i += PRESENCE_BATCH) {
      const asked = users.slice(i, i + PRESENCE_BATCH);
      if (asked.length === 0) continue;
      const online = await this.client.api.presence(asked);
      this.#store.dispatch({ type: 'presenceSnapshot', asked, online: [...online] });
    }
  }

  reconnectNow(): void {
    this.client.reconnectNow();
  }

  async logout(): Promise<void> {
    this.stop();
    const me = this.#auth.getUser();
    if (me) {
      clearOutbox(localStorage, me.id);
      clearDrafts(me.id);
    }
    await this.#auth.logout();
  }

  /**
   * Looks up the names of senders we have not seen (members of a big channel beyond the
   * member preview), batched per turn; until then they show as "unknown".
   */
  #resolveNames(messages: readonly Message[]): void {
    const { users } = this.#store.getState();
    for (const m of messages) {
      if (!users.has(m.from) && !this.#namesAsked.has(m.from)) this.#namesWanted.add(m.from);
    }
    if (this.#namesWanted.size === 0 || this.#namesTimer !== undefined) return;
    this.#namesTimer = setTimeout(() => {
      this.#namesTimer = undefined;
      const ids = [...this.#namesWanted].slice(0, LIMITS.maxUsersPage);
      for (const id of ids) {
        this.#namesWanted.delete(id);
        this.#namesAsked.add(id);
      }
      this.#auth.authApi
        .usersByIds(ids)
        .then((found) => this.#store.dispatch({ type: 'users', users: found }))
        .catch(() => {
          for (const id of ids) this.#namesAsked.delete(id);
        });
      if (this.#namesWanted.size > 0) this.#resolveNames([]);
    }, 0);
  }

  #created(conversation: Conversation): ConversationId {
    this.#store.dispatch({ type: 'conversation', conversation });
    return conversation.id;
  }
}

/** A reply's own fields, as the server sets them: its parent and the parent's thread root. */
function replyFields(
  state: ChatState,
  conv: ConversationId,
  replyTo: number,
): { replyTo: number; threadRoot?: number } {
  const loaded = state.histories.get(conv)?.messages.find((m) => m.seq === replyTo);
  let parent = loaded;
  if (!parent) {
    for (const thread of state.threads.values()) {
      parent = thread.replies.find((m) => m.conv === conv && m.seq === replyTo);
      if (parent) break;
    }
  }
  if (!parent) return { replyTo };
  return { replyTo, threadRoot: parent.threadRoot ?? parent.seq };
}

function linkStatusOf(state: ConnectionState): LinkStatus {
  switch (state) {
    case 'open':
      return 'open';
    case 'reconnecting':
      return navigator.onLine === false ? 'offline' : 'reconnecting';
    case 'closed':
      return 'offline';
    default:
      return 'connecting';
  }
}

function describeSendError(error: ChatError): string {
  switch (toChatError(error).code) {
    case 'not_member':
      return 'you are no longer a member';
    case 'payload_too_large':
    case 'invalid_frame':
    case 'validation_failed':
      return 'the message was refused';
    case 'forbidden':
      return 'not allowed';
    default:
      return error.message;
  }
}
