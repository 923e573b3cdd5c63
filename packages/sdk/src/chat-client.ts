import {
  type AckFrame,
  type ChangeFrame,
  ChatError,
  type Conversation,
  type ConversationFrame,
  type ConversationId,
  type ErrorFrame,
  type Message,
  type ReadyFrame,
  type ServerFrame,
  type User,
  type UserId,
} from '@relay-chat/protocol';
import { ApiClient } from './api.js';
import { ChangeFeed } from './change-feed.js';
import { type ChangeRequest, ChangeRequests } from './change-requests.js';
import {
  ChatApi,
  type ConversationChange,
  type ConversationSettings,
  type CreateConversationInput,
  type ReadMarker,
  type SendOptions,
} from './chat-api.js';
import type { ChatClientEvents, ChatClientOptions, ClientErrorSource } from './chat-client-options.js';
import { Connection } from './connection.js';
import type { ConnectionState } from './connection-state.js';
import { ConversationList } from './conversation-list.js';
import { Delivery } from './delivery.js';
import { Emitter } from './emitter.js';
import { NewestStates } from './newest-states.js';
import type { OutboxEntry, SendHandle } from './outbox.js';
import { Sender } from './sender.js';
import { globalWebSocket, httpUrlOf } from './websocket.js';

/**
 * The relay-chat client: one connection (reconnecting by itself), exactly-once in-order
 * messages per conversation, an outbox that retries sends until acknowledged, typed events.
 *
 * ```ts
 * const client = new ChatClient({ url: 'ws://localhost:8080/ws', getToken: session.getToken, WebSocket });
 * client.on('message', (m) => console.log(m.conv, m.seq, m.body));
 * client.connect();
 * const { acked } = client.send(convId, 'hello');
 * ```
 */
export class ChatClient {
  readonly api: ChatApi;
  readonly #events: Emitter<ChatClientEvents>;
  readonly #connection: Connection;
  readonly #delivery: Delivery;
  readonly #sender: Sender;
  readonly #changes: ChangeFeed;
  readonly #requests: ChangeRequests;
  readonly #newest = new NewestStates();
  readonly #conversations = new ConversationList();
  readonly #online = new Set<UserId>();
  readonly #pendingReads = new Map<ConversationId, number>();
  readonly #typingSentAt = new Map<ConversationId, number>();
  readonly #typingThrottleMs: number;
  #resumeFrom: Record<ConversationId, number>;
  #user: User | undefined;
  #readyCount = 0;
  readonly #learning = new Set<ConversationId>();

  constructor(options: ChatClientOptions) {
    const WebSocket = options.WebSocket ?? globalWebSocket();
    if (!WebSocket) {
      throw new ChatError(
        'validation_failed',
        'no global WebSocket: pass options.WebSocket (e.g. from the ws package)',
      );
    }
    this.#events = new Emitter(options.onListenerError ? { onListenerError: options.onListenerError } : {});
    this.#connection = new Connection({
      url: options.url,
      WebSocket,
      getToken: options.getToken,
      ...(options.reconnect ? { backoff: options.reconnect } : {}),
      ...pick(options, ['pingIntervalMs', 'pongTimeoutMs', 'connectTimeoutMs', 'renewBeforeExpiryMs']),
    });
    const httpUrl = options.httpUrl;
    this.api =
      options.api ??
      new ChatApi(
        new ApiClient({
          baseUrl: httpUrl ?? (() => httpUrlOf(this.#connection.url)),
          getToken: options.getToken,
          ...(options.fetch ? { fetch: options.fetch } : {}),
        }),
      );
    this.#delivery = new Delivery({
      ...options.history,
      fetchAfter: (conv, after, limit) => this.api.history(conv, { after, limit }),
      deliver: (message) => this.#onDeliver(message),
      onGap: (event) => {
        if (event.status === 'failed') this.#emitError(event.error, 'history');
        this.#events.emit('gap', event);
      },
      onUnknownConversation: (conv) => void this.#learn(conv),
    });
    this.#sender = new Sender({
      connection: this.#connection,
      retry: options.sendRetry ?? { baseDelayMs: 1_000, maxDelayMs: 30_000 },
      onChange: (change) => this.#events.emit('outbox', change),
    });
    this.#changes = new ChangeFeed({
      ...options.changes,
      fetchChanges: (conv, after, limit) => this.api.changes(conv, after, limit),
      apply: (change) => this.#onChangeApplied(change.message, change.changeSeq),
      onUnknownConversation: (conv) => void this.#learn(conv),
      onError: (_conv, error) => this.#emitError(error, 'changes'),
    });
    this.#requests = new ChangeRequests({
      send: (frame) => this.#connection.send(frame),
      rest: (request) => this.#changeOverRest(request),
      fetchMessage: (conv, seq) => this.api.message(conv, seq),
      ...(options.changeTimeoutMs === undefined ? {} : { ackTimeoutMs: options.changeTimeoutMs }),
    });
    this.#resumeFrom = { ...options.resumeFrom };
    this.#typingThrottleMs = options.typingThrottleMs ?? 2_000;
    this.#connection.on('state', (change) => {
      // Change frames written on a connection that is gone may never be answered: REST instead.
      if (change.previous === 'open' && change.state !== 'open') this.#requests.onFramesLost();
      this.#events.emit('state', change);
    });
    this.#connection.on('frame', (frame) => this.#onFrame(frame));
    this.#connection.on('error', (error) => this.#emitError(error, 'connection'));
  }

  /** Subscribes to an event; returns the function that unsubscribes. */
  on<K extends keyof ChatClientEvents>(
    event: K,
    listener: (payload: ChatClientEvents[K]) => void,
  ): () => void {
    return this.#events.on(event, listener);
  }

  once<K extends keyof ChatClientEvents>(
    event: K,
    listener: (payload: ChatClientEvents[K]) => void,
  ): () => void {
    return this.#events.once(event, listener);
  }

  get state(): ConnectionState {
    return this.#connection.state;
  }

  /** The signed-in user, from the last `ready`. */
  get user(): User | undefined {
    return this.#user;
  }

  /** Starts connecting (again, after `close`). */
  connect(): void {
    this.#delivery.reopen();
    this.#changes.reopen();
    this.#connection.start();
  }

  /** Closes the connection and stops fetching. Pending sends stay queued for the next `connect`. */
  close(): void {
    this.#connection.stop();
    this.#delivery.close();
    this.#changes.close();
    this.#sender.stop();
    this.#requests.onFramesLost();
  }

  /** While waiting to reconnect, try now (e.g. on the browser's `online` event). */
  reconnectNow(): void {
    this.#connection.reconnectNow();
  }

  /** The caller's conversations, most recent activity first; hidden DMs only with `includeHidden`. */
  conversations(options: { includeHidden?: boolean } = {}): Conversation[] {
    return this.#conversations.all(options);
  }

  conversation(id: ConversationId): Conversation | undefined {
    return this.#conversations.get(id);
  }

  /** The last seq delivered for a conversation (undefined when not tracked). */
  lastSeq(conv: ConversationId): number | undefined {
    return this.#delivery.lastSeq(conv);
  }

  /** The last changeSeq applied for a conversation (undefined when not tracked). */
  lastChangeSeq(conv: ConversationId): number | undefined {
    return this.#changes.applied(conv);
  }

  /** lastSeq per conversation: persist it and pass it back as `resumeFrom` to resume without replaying. */
  lastSeqs(): Record<ConversationId, number> {
    return this.#delivery.snapshot();
  }

  isOnline(user: UserId): boolean {
    return this.#online.has(user);
  }

  onlineUsers(): UserId[] {
    return [...this.#online];
  }

  /**
   * Queues a message and sends it when connected; it is resent with the same clientMsgId
   * after every reconnect until acknowledged. Throws ChatError `validation_failed` for an
   * empty or too long body. Pass `clientMsgId` to re-queue a message restored from storage;
   * `replyTo` (a seq of the same conversation) and `mentions` (user ids) travel with it on
   * every resend.
   */
  send(conv: ConversationId, body: string, options: { clientMsgId?: string } & SendOptions = {}): SendHandle {
    const { clientMsgId, replyTo, mentions } = options;
    return this.#sender.send(conv, body, clientMsgId, {
      ...(replyTo === undefined ? {} : { replyTo }),
      ...(mentions === undefined ? {} : { mentions }),
    });
  }

  /**
   * Replaces the body (and the mentions) of one of the caller's own messages. Resolves with
   * the message's state after the edit; rejects with ChatError (`forbidden`: not yours,
   * `conflict`: deleted, `validation_failed`, `not_found`, `not_member`, `rate_limited` …).
   */
  edit(
    conv: ConversationId,
    seq: number,
    body: string,
    options: { mentions?: readonly UserId[] } = {},
  ): Promise<Message> {
    const { mentions } = options;
    return this.#requests.run({
      kind: 'edit',
      conv,
      seq,
      body,
      ...(mentions === undefined ? {} : { mentions }),
    });
  }

  /**
   * Deletes a message — the caller's own, or any in a group or channel the caller owns; a
   * tombstone keeps its seq. Resolves with the tombstone; rejects with ChatError.
   */
  deleteMessage(conv: ConversationId, seq: number): Promise<Message> {
    return this.#requests.run({ kind: 'delete', conv, seq });
  }

  /**
   * Sets (`on`, the default) or clears the caller's reaction with one emoji (idempotent).
   * Resolves with the message's state after it; rejects with ChatError (`validation_failed`
   * for anything but one emoji, `conflict` on a deleted message or past the distinct-emoji limit).
   */
  react(conv: ConversationId, seq: number, emoji: string, on = true): Promise<Message> {
    return this.#requests.run({ kind: 'react', conv, seq, emoji, on });
  }

  /** Queues a failed message again (same clientMsgId). Throws ChatError `not_found` unless it failed. */
  retry(clientMsgId: string): SendHandle {
    return this.#sender.retry(clientMsgId);
  }

  /** Drops a queued or failed message (a pending one's `acked` rejects with `conflict`). */
  discard(clientMsgId: string): boolean {
    return this.#sender.discard(clientMsgId);
  }

  /** Messages not yet acknowledged (pending and failed), oldest first. */
  outbox(): OutboxEntry[] {
    return this.#sender.entries();
  }

  /** Moves the read marker forward to `seq` (sent now, or once connected; only the latest counts). */
  markRead(conv: ConversationId, seq: number): void {
    const known = this.#conversations.get(conv);
    if ((known && seq <= known.lastReadSeq) || seq <= (this.#pendingReads.get(conv) ?? -1)) return;
    this.#conversations.applyRead(conv, seq);
    this.#pendingReads.set(conv, seq);
    this.#flushReads();
  }

  /** Tells the others that the caller is typing; throttled; dropped while disconnected. True when sent. */
  typing(conv: ConversationId): boolean {
    const now = Date.now();
    const last = this.#typingSentAt.get(conv);
    if (last !== undefined && now - last < this.#typingThrottleMs) return false;
    if (!this.#connection.send({ type: 'typing', conv })) return false;
    this.#typingSentAt.set(conv, now);
    return true;
  }

  /** Creates a conversation over REST and starts tracking it at once. */
  async createConversation(input: CreateConversationInput): Promise<Conversation> {
    const conversation = await this.api.createConversation(input);
    this.#apply({ type: 'conversation', event: 'created', conversation });
    return conversation;
  }

  /** Joins a public channel over REST; tracks it when the answer includes it (else the server's frame will). */
  async join(conv: ConversationId): Promise<Conversation | undefined> {
    const conversation = await this.api.join(conv);
    if (conversation) this.#apply({ type: 'conversation', event: 'joined', conversation });
    return conversation;
  }

  /** Leaves a conversation over REST and stops tracking it. */
  async leave(conv: ConversationId): Promise<void> {
    await this.api.leave(conv);
    const conversation = this.#conversations.get(conv);
    if (conversation) this.#apply({ type: 'conversation', event: 'left', conversation });
  }

  /**
   * Renames a group or channel and/or sets its topic (its owner only: `forbidden` for
   * others). Every member's devices get `conversation` `updated`; this one applies the answer at once.
   */
  async updateConversation(conv: ConversationId, change: ConversationChange): Promise<Conversation> {
    return this.#applyOwn(await this.api.updateConversation(conv, change));
  }

  /** Adds people to a group (its owner only; each must have written to the owner). */
  async addMembers(conv: ConversationId, members: UserId[]): Promise<Conversation> {
    return this.#applyOwn(await this.api.addMembers(conv, members));
  }

  /** Removes someone from a group (its owner only); the members' `member_left` follows from the server. */
  async removeMember(conv: ConversationId, user: UserId): Promise<void> {
    if (user === this.#user?.id) return this.leave(conv);
    await this.api.removeMember(conv, user);
  }

  /**
   * Changes the caller's own settings of a conversation — `muted`, `hidden` (DMs only) —
   * on every device: the others get `conversation` `updated`, this one applies the answer.
   */
  async updateSettings(conv: ConversationId, settings: ConversationSettings): Promise<Conversation> {
    return this.#applyOwn(await this.api.updateSettings(conv, settings));
  }

  /** Mutes (or unmutes) a conversation on every device of the caller. */
  mute(conv: ConversationId, muted = true): Promise<Conversation> {
    return this.updateSettings(conv, { muted });
  }

  /** Hides a DM until its next message (`conversations()` leaves it out meanwhile). */
  hide(conv: ConversationId): Promise<Conversation> {
    return this.updateSettings(conv, { hidden: true });
  }

  /** Marks every conversation read at its last message, on every device; returns the markers that moved. */
  async markAllRead(): Promise<ReadMarker[]> {
    const moved = await this.api.markAllRead();
    // The server's `read` frames tell every device, this one included; the list is current at once.
    for (const { conv, seq } of moved) {
      this.#conversations.applyRead(conv, seq);
      if ((this.#pendingReads.get(conv) ?? -1) <= seq) this.#pendingReads.delete(conv);
    }
    return moved;
  }

  /** The caller's own view of a conversation from a REST answer, applied and announced as `updated`. */
  #applyOwn(conversation: Conversation): Conversation {
    if (!this.#conversations.has(conversation.id)) return conversation;
    const current = this.#conversations.upsert(conversation);
    this.#events.emit('conversation', { event: 'updated', conversation: current });
    return current;
  }

  #onFrame(frame: ServerFrame): void {
    switch (frame.type) {
      case 'ready':
        this.#onReady(frame);
        break;
      case 'message': {
        const { type: _type, ...message } = frame;
        this.#delivery.receive(message);
        break;
      }
      case 'ack':
        this.#onAck(frame);
        break;
      case 'typing':
        this.#events.emit('typing', { conv: frame.conv, user: frame.user });
        break;
      case 'presence':
        if (frame.status === 'online') this.#online.add(frame.user);
        else this.#online.delete(frame.user);
        this.#events.emit('presence', { user: frame.user, status: frame.status });
        break;
      case 'read':
        this.#conversations.applyRead(frame.conv, frame.seq);
        this.#events.emit('read', { conv: frame.conv, seq: frame.seq });
        break;
      case 'conversation':
        this.#apply(frame);
        break;
      case 'error':
        this.#onErrorFrame(frame);
        break;
      case 'change':
        this.#onChangeFrame(frame);
        break;
      case 'change_ack':
        if (this.#requests.onAck(frame) && frame.changeSeq !== undefined) {
          // The change frame normally follows; if it never does, the changes route supplies it.
          this.#changes.noteLatest(frame.conv, frame.changeSeq);
        }
        break;
    }
  }

  #onChangeFrame(frame: ChangeFrame): void {
    const { conv, changeSeq } = frame;
    const message = { ...frame.message, changeSeq };
    this.#noteState(message);
    this.#changes.receive({ conv, changeSeq, message });
  }

  /** A message state seen (live or fetched): answers a waiting edit/delete/react, and upgrades a message not delivered yet. */
  #noteState(message: Message): void {
    this.#requests.onState(message);
    const last = this.#delivery.lastSeq(message.conv);
    if (last === undefined || message.seq > last) this.#newest.note(message);
  }

  /** One change applied, in changeSeq order per conversation. */
  #onChangeApplied(message: Message, changeSeq: number): void {
    this.#noteState(message);
    this.#conversations.applyChange(message);
    this.#events.emit('change', { conv: message.conv, changeSeq, message });
  }

  /** The REST fallback of an edit, delete or reaction (each idempotent). */
  async #changeOverRest(request: ChangeRequest): Promise<Message> {
    const { conv, seq } = request;
    switch (request.kind) {
      case 'edit': {
        const { body, mentions } = request;
        return (
          await this.api.editMessage(conv, seq, { body, ...(mentions === undefined ? {} : { mentions }) })
        ).message;
      }
      case 'delete':
        return (await this.api.deleteMessage(conv, seq)).message;
      case 'react':
        return (
          await (request.on
            ? this.api.setReaction(conv, seq, request.emoji)
            : this.api.clearReaction(conv, seq, request.emoji))
        ).message;
    }
  }

  #onReady(frame: ReadyFrame): void {
    const first = this.#readyCount === 0;
    this.#readyCount += 1;
    this.#user = frame.user;
    this.#online.clear();
    for (const user of frame.online ?? []) this.#online.add(user);
    this.#conversations.reset(frame.conversations, frame.user.id);
    const listed = new Set(frame.conversations.map((c) => c.id));
    for (const conversation of frame.conversations) this.#seedListed(conversation, first);
    this.#events.emit('ready', frame);
    for (const { id, lastSeq } of frame.conversations) this.#delivery.noteLatest(id, lastSeq);
    // Changes missed while away are fetched at once; a conversation first seen starts at its counter.
    for (const { id, lastChangeSeq } of frame.conversations) this.#changes.track(id, lastChangeSeq ?? 0);
    this.#flushReads();
    this.#sender.flush();
    if (frame.nextCursor) void this.#loadRest(frame.nextCursor, this.#readyCount, listed, first);
    else this.#forgetUnlisted(listed);
  }

  /** Later conversations of a kind one is a member of from the start are all news. */
  #seedListed(conversation: Conversation, first: boolean): void {
    this.#seed(conversation, first || conversation.kind === 'channel' ? 'history' : 'new');
  }

  /** Left (or never joined) while away: nothing more will come for those. */
  #forgetUnlisted(listed: ReadonlySet<ConversationId>): void {
    for (const conv of this.#delivery.conversations()) if (!listed.has(conv)) this.#delivery.forget(conv);
    for (const conv of this.#changes.conversations()) {
      if (!listed.has(conv)) {
        this.#changes.forget(conv);
        this.#newest.forget(conv);
      }
    }
  }

  /**
   * `ready` carries the most recent conversations; the rest come page by page over REST,
   * each announced as an `updated` conversation. Stops when a newer `ready` arrived.
   */
  async #loadRest(
    cursor: string,
    readyCount: number,
    listed: Set<ConversationId>,
    first: boolean,
  ): Promise<void> {
    let next: string | null = cursor;
    try {
      while (next !== null) {
        const page = await this.api.conversationsPage(next);
        if (readyCount !== this.#readyCount) return;
        for (const listedConversation of page.conversations) {
          listed.add(listedConversation.id);
          const conversation = this.#conversations.upsert(listedConversation);
          this.#seedListed(conversation, first);
          this.#delivery.noteLatest(conversation.id, conversation.lastSeq);
          this.#changes.track(conversation.id, listedConversation.lastChangeSeq ?? 0);
          this.#events.emit('conversation', { event: 'updated', conversation });
        }
        next = page.nextCursor;
      }
      this.#forgetUnlisted(listed);
    } catch (err) {
      this.#emitError(err, 'conversations');
    }
  }

  /**
   * Says where delivery of a conversation starts, unless it has started already. `history`:
   * what it holds so far is not news (seed at its lastSeq, or before the first held
   * message); `new`: every message is; `unread`: what the caller has not read is.
   */
  #seed(conversation: Conversation, how: 'history' | 'new' | 'unread'): void {
    const { id, lastSeq } = conversation;
    if (!this.#delivery.isSeeded(id)) {
      const resume = this.#resumeFrom[id];
      const held = this.#delivery.lowestHeld(id);
      const known = how === 'unread' ? conversation.lastReadSeq : lastSeq;
      let seed = how === 'new' ? 0 : Math.min(known, held === undefined ? known : held - 1);
      if (resume !== undefined) seed = Math.max(0, Math.min(resume, lastSeq));
      delete this.#resumeFrom[id];
      this.#delivery.seed(id, seed);
    }
  }

  #apply(
    frame: Omit<ConversationFrame, 'type'> & { type?: 'conversation' },
    how?: 'history' | 'new' | 'unread',
  ): void {
    const { event, conversation, user } = frame;
    const payload = { event, conversation, ...(user === undefined ? {} : { user }) };
    if (event === 'left') {
      // After leave() the server's own `left` frame finds nothing left to remove.
      const known = this.#conversations.remove(conversation.id);
      this.#delivery.forget(conversation.id);
      this.#changes.forget(conversation.id);
      this.#newest.forget(conversation.id);
      this.#pendingReads.delete(conversation.id);
      if (known) this.#events.emit('conversation', payload);
      return;
    }
    if (user !== undefined) {
      // Someone joined or left, or the owner changed it: shared fields only, ours are kept
      // (and a preview the frame does not show yet). News of a conversation not known here
      // (a member event about ourselves ahead of our own `joined`) waits for that frame.
      const current = this.#conversations.applyShared(conversation);
      if (!current) return;
      this.#delivery.noteLatest(current.id, current.lastSeq, { wait: true });
      if (conversation.lastChangeSeq !== undefined)
        this.#changes.noteLatest(current.id, conversation.lastChangeSeq);
      this.#events.emit('conversation', { ...payload, conversation: current });
      return;
    }
    const known = this.#conversations.has(conversation.id);
    const current = this.#conversations.upsert(conversation);
    this.#seed(
      current,
      how ?? (event === 'created' || (event !== 'joined' && current.kind !== 'channel') ? 'new' : 'history'),
    );
    // Messages announced by a frame are usually on their way over the socket too.
    this.#delivery.noteLatest(current.id, current.lastSeq, { wait: true });
    this.#changes.track(current.id, conversation.lastChangeSeq ?? 0, { wait: true });
    // The server's frame for a conversation this client just created or joined itself is news no more.
    const shown = known && (event === 'created' || event === 'joined') ? 'updated' : event;
    this.#events.emit('conversation', { ...payload, event: shown, conversation: current });
  }

  /** Learns a conversation whose messages arrived before its `conversation` frame. */
  async #learn(conv: ConversationId): Promise<void> {
    if (this.#learning.has(conv)) return;
    this.#learning.add(conv);
    try {
      const conversation = await this.api.conversation(conv);
      const waiting =
        (this.#delivery.has(conv) && !this.#delivery.isSeeded(conv)) ||
        (this.#changes.conversations().includes(conv) && !this.#changes.isSeeded(conv));
      if (waiting) {
        // Its frame was missed, or it is a DM hidden before this connection and shown again
        // by this message: what the caller has read already is not news (a new one: nothing).
        this.#apply(
          { event: conversation.kind === 'channel' ? 'joined' : 'created', conversation },
          'unread',
        );
      }
    } catch (err) {
      const error = this.#emitError(err, 'conversations');
      // Not ours after all: drop what is held. Transient failures: the next message retries.
      if (!error.retryable && !this.#delivery.isSeeded(conv)) this.#delivery.forget(conv);
      if (!error.retryable && !this.#changes.isSeeded(conv)) {
        this.#changes.forget(conv);
        this.#newest.forget(conv);
      }
    } finally {
      this.#learning.delete(conv);
    }
  }

  #onDeliver(delivered: Message): void {
    // In the newest state a `change` already showed, when one overtook it.
    const message = this.#newest.take(delivered);
    this.#requests.onState(message);
    const hidden = this.#conversations.get(message.conv)?.hidden === true;
    const conversation = this.#conversations.applyMessage(message);
    if (hidden && conversation && !conversation.hidden) {
      this.#events.emit('conversation', { event: 'updated', conversation });
    }
    // Our own message seen before its ack (the ack was lost with a connection): settle it now.
    const { clientMsgId } = message;
    if (clientMsgId !== undefined && message.from === this.#user?.id) {
      const entry = this.#sender.get(clientMsgId);
      if (entry && entry.conv === message.conv) {
        const { conv, id, seq, ts } = message;
        this.#onAck({ type: 'ack', clientMsgId, conv, id, seq, ts });
      }
    }
    this.#events.emit('message', message);
  }

  #onAck(ack: AckFrame): void {
    const entry = this.#sender.acknowledge(ack);
    // The message frame normally follows; if it never does, history supplies it.
    this.#delivery.noteLatest(ack.conv, ack.seq, { wait: true });
    if (entry) this.#events.emit('ack', ack);
  }

  #onErrorFrame(frame: ErrorFrame): void {
    const error = new ChatError(frame.code, frame.message);
    if (frame.code === 'rate_limited' && frame.ref === undefined) {
      // Frames were dropped over the connection's budget: whatever they carried is sent again.
      this.#sender.resendDropped(error, frame.retryAfterMs ?? 1_000);
    }
    if (frame.code === 'rate_limited' && frame.ref === undefined) this.#requests.onFramesLost();
    // An edit, delete or reaction: its promise rejects.
    if (frame.ref !== undefined && this.#requests.onError(frame.ref, error)) return;
    const isSend = frame.ref !== undefined && this.#sender.reject(frame.ref, error, frame.retryAfterMs);
    // A retryable send error (rate_limited …) is the outbox's business: it resends by itself.
    if (isSend && error.retryable) return;
    this.#emitError(error, isSend ? 'send' : 'server', frame.ref);
  }

  #flushReads(): void {
    for (const [conv, seq] of this.#pendingReads) {
      if (!this.#connection.send({ type: 'read', conv, seq })) return;
      this.#pendingReads.delete(conv);
    }
  }

  #emitError(err: unknown, source: ClientErrorSource, ref?: string): ChatError {
    const error = err instanceof ChatError ? err : new ChatError('internal', undefined, { cause: err });
    this.#events.emit('error', { error, source, ...(ref === undefined ? {} : { ref }) });
    return error;
  }
}

function pick<T extends object, K extends keyof T>(source: T, keys: K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const key of keys) if (source[key] !== undefined) out[key] = source[key];
  return out;
}
