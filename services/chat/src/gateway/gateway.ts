import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  ChatError,
  type ClientFrame,
  type ConversationFrame,
  type ConversationId,
  PROTOCOL_VERSION,
  type PresenceFrame,
  type PresenceStatus,
  parseClientFrame,
  SUBPROTOCOL,
  type TypingEventFrame,
  toChatError,
  type UserId,
} from '@relay-chat/protocol';
import { counter, gauge, type Logger } from '@relay-chat/service-kit';
import type { AccessTokenVerifier } from '@relay-chat/tokens';
import { type RawData, type WebSocket, WebSocketServer } from 'ws';
import type { ChatCore } from '../chat.js';
import { toConversations } from '../conversation-view.js';
import { convTopic, decodeEvent, encodeEvent, PRESENCE_TOPIC, userTopic } from '../events.js';
import type { ConversationState, MessageStore } from '../store/message-store.js';
import { SeqOrder, seqOfMessageFrame } from './seq-order.js';
import { Session } from './session.js';
import { TokenBucket } from './token-bucket.js';
import { authenticateUpgrade, rejectUpgrade } from './upgrade-guard.js';
import { textFrame } from './ws-frame.js';

/** What the gateway needs from the bus (see bus/bus.ts). */
export interface GatewayBus {
  publish(topic: string, payload: string): Promise<void>;
  subscribe(
    topic: string,
    listener: (payload: string) => void,
  ): { ready: Promise<void>; unsubscribe(): Promise<void> };
  onResync(handler: () => void): void;
}

/** What the gateway needs from the presence registry (see bus/presence.ts). */
export interface GatewayPresence {
  connect(userId: UserId): Promise<boolean>;
  disconnect(userId: UserId): Promise<boolean>;
  onlineAmong(userIds: UserId[]): Promise<Set<UserId>>;
  onChange(handler: (userId: UserId, status: PresenceStatus) => void): void;
}

export interface GatewayOptions {
  /** Path of the WebSocket endpoint (default /ws). */
  path?: string;
  allowedOrigins: readonly string[];
  allowNoOrigin: boolean;
  maxFrameBytes: number;
  maxBufferedBytes: number;
  sendRatePerSec: number;
  sendBurst: number;
  heartbeatMs: number;
  /** Longest wait before queued frames are written, ms (0 = end of the event-loop turn); see ChatConfig. */
  flushIntervalMs: number;
  /** Longest a live message that overtook a missing seq waits for it, ms (0 = never); see ChatConfig. */
  reorderWindowMs: number;
  /** Minimum interval between two typing events of one session in one conversation, ms (default 1500). */
  typingIntervalMs?: number;
}

export interface GatewayDeps {
  core: ChatCore;
  store: MessageStore;
  bus: GatewayBus;
  presence: GatewayPresence;
  verify: AccessTokenVerifier;
  log: Logger;
}

interface LocalTopic {
  sessions: Set<Session>;
  subscription: { ready: Promise<void>; unsubscribe(): Promise<void> };
}

interface ConvTopic extends LocalTopic {
  /** Live messages, in seq order, to `sessions`. */
  order: SeqOrder;
  /** Gateway epoch at which the subscription became ready (see Gateway.setUp). */
  readyAt?: number;
}

const connections = gauge('chat_ws_connections', 'Open WebSocket connections');
const framesIn = counter('chat_ws_frames_in_total', 'Client frames received', ['type']);
const deliveries = counter('chat_ws_frames_out_total', 'Frames written to sockets');
const closes = counter('chat_ws_closes_total', 'Connections closed by the server', ['code']);

/**
 * Holds this replica's WebSocket connections: authenticates upgrades, keeps a local index
 * of which sessions belong to which conversation (subscribing to a conversation's bus topic
 * while at least one local member is connected), and writes bus events to local sockets.
 */
export class Gateway {
  private readonly wss: WebSocketServer;
  private readonly path: string;
  private readonly sessionsByUser = new Map<UserId, Set<Session>>();
  private readonly convTopics = new Map<ConversationId, ConvTopic>();
  private readonly userTopics = new Map<UserId, LocalTopic['subscription']>();
  private readonly watchers = new Map<UserId, Set<Session>>();
  private readonly sendBuckets = new Map<UserId, TokenBucket>();
  private readonly dirty = new Set<Session>();
  private readonly setups = new WeakMap<Session, Promise<void>>();
  private flushScheduled = false;
  /** Orders topic readiness against session state reads (see setUp). */
  private epoch = 0;
  private accepting = true;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly presenceSubscription: LocalTopic['subscription'];

  constructor(
    private readonly deps: GatewayDeps,
    private readonly options: GatewayOptions,
  ) {
    this.path = options.path ?? '/ws';
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: options.maxFrameBytes,
      perMessageDeflate: false,
      clientTracking: false,
      handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
    });
    this.heartbeat = setInterval(() => this.beat(), options.heartbeatMs);
    this.heartbeat.unref();
    this.presenceSubscription = deps.bus.subscribe(PRESENCE_TOPIC, (payload) =>
      this.onPresenceEvent(payload),
    );
    deps.presence.onChange((userId, status) => this.publishPresence(userId, status));
    deps.bus.onResync(() => this.resync());
  }

  /** Resolves when the gateway's own subscriptions are in place. */
  ready(): Promise<void> {
    return this.presenceSubscription.ready;
  }

  /** Handles WebSocket upgrades on `server` for the gateway's path. */
  attach(server: Server): void {
    server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.onUpgrade(request, socket, head);
    });
  }

  get connectionCount(): number {
    let n = 0;
    for (const set of this.sessionsByUser.values()) n += set.size;
    return n;
  }

  /** Stops accepting, tells every client to reconnect elsewhere (1012), releases subscriptions. */
  async close(): Promise<void> {
    this.accepting = false;
    clearInterval(this.heartbeat);
    for (const sessions of this.sessionsByUser.values()) {
      for (const session of sessions) session.closeWith('server_shutting_down');
    }
    for (const topic of this.convTopics.values()) topic.order.close();
    await Promise.allSettled([
      this.presenceSubscription.unsubscribe(),
      ...[...this.userTopics.values()].map((s) => s.unsubscribe()),
      ...[...this.convTopics.values()].map((t) => t.subscription.unsubscribe()),
    ]);
    this.wss.close();
  }

  // --- connection life cycle -----------------------------------------------------------

  private onUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const path = (request.url ?? '').split('?')[0];
    if (path !== this.path) {
      rejectUpgrade(socket, new ChatError('not_found', 'no WebSocket endpoint here'));
      return;
    }
    if (!this.accepting) {
      rejectUpgrade(socket, new ChatError('server_shutting_down'));
      return;
    }
    authenticateUpgrade(request, { ...this.options, verify: this.deps.verify }).then(
      ({ claims, token }) => {
        if (socket.destroyed) return;
        this.wss.handleUpgrade(request, socket, head, (ws) => {
          this.onConnection(
            ws,
            socket,
            { id: claims.userId, username: claims.username },
            token,
            claims.exp * 1000,
          );
        });
      },
      (err: unknown) => rejectUpgrade(socket, toChatError(err)),
    );
  }

  private onConnection(
    ws: WebSocket,
    socket: Duplex,
    user: { id: UserId; username: string },
    token: string,
    expiresAt: number,
  ): void {
    const session = new Session(ws, socket, user, token, expiresAt, this, {
      maxBufferedBytes: this.options.maxBufferedBytes,
    });
    connections.inc();
    this.deps.core.directory.remember(user);
    let sessions = this.sessionsByUser.get(user.id);
    if (!sessions) {
      sessions = new Set();
      this.sessionsByUser.set(user.id, sessions);
    }
    sessions.add(session);
    const expiry = setInterval(() => {
      if (Date.now() >= session.tokenExpiresAt) session.closeWith('token_expired');
    }, 1000);
    expiry.unref();
    ws.on('message', (data, isBinary) => this.onMessage(session, data, isBinary));
    ws.on('pong', () => {
      session.alive = true;
    });
    ws.on('error', (err) => this.deps.log.debug({ err, user: user.id }, 'socket error'));
    ws.on('close', (code) => {
      clearInterval(expiry);
      closes.inc({ code: String(code) });
      connections.dec();
      session.closed = true;
      void this.detach(session);
    });
    const setup = this.setUp(session).catch((err: unknown) => {
      this.deps.log.warn({ err, user: user.id }, 'session setup failed');
      session.closeWith(toChatError(err).code === 'internal' ? 'internal' : 'unavailable');
    });
    this.setups.set(session, setup);
  }

  /**
   * Reads the user's conversations, then joins the local index (subscribing where needed),
   * and makes sure nothing falls between the two: a message committed after the read
   * reaches this session live, or the state is read again. One read is enough when every
   * conversation's topic was already subscribed before the read started and no live
   * message past the read's lastSeq has passed through it since — the common case of a
   * busy replica. Otherwise (a topic subscribed just now, or a message in between) the
   * state is read again after joining, which is then complete by the same argument.
   */
  private async setUp(session: Session): Promise<void> {
    const { store, presence, core } = this.deps;
    const userId = session.user.id;
    await this.subscribeUser(userId);
    const mark = ++this.epoch;
    let states = await store.conversationsOf(userId);
    if (session.closed) return;
    // joinLocal adds the session to each topic synchronously: from here on it gets every
    // live message, so the check below sees everything that could have been missed.
    const joins = states.map((s) => this.joinLocal(session, s.id));
    const complete = states.every((s) => this.caughtUp(s, mark));
    await Promise.all(joins);
    if (!complete) {
      states = await store.conversationsOf(userId);
      if (session.closed) return;
      for (const state of states) {
        if (!session.convs.has(state.id)) await this.joinLocal(session, state.id);
      }
    }
    // Live messages from here on continue the stored ones.
    for (const state of states) this.convTopics.get(state.id)?.order.expect(state.lastSeq + 1);
    const contacts = this.watchContacts(session, states);
    if (await presence.connect(userId)) this.publishPresence(userId, 'online');
    session.presenceCounted = true;
    if (session.closed) {
      await this.detach(session);
      return;
    }
    const [online, conversations] = await Promise.all([
      presence.onlineAmong([...contacts]),
      toConversations(states, core.directory, session.token),
    ]);
    session.sendReady({
      type: 'ready',
      v: PROTOCOL_VERSION,
      user: session.user,
      conversations,
      online: [...online],
      serverTime: Date.now(),
    });
  }

  /** Removes a closed session from every index; safe to call again (setup may finish after close). */
  private async detach(session: Session): Promise<void> {
    const userId = session.user.id;
    const work: Promise<unknown>[] = [];
    const sessions = this.sessionsByUser.get(userId);
    if (sessions?.delete(session)) {
      this.dirty.delete(session);
      for (const conv of session.convs) work.push(this.leaveLocal(session, conv));
      for (const watched of session.watching) this.watchers.get(watched)?.delete(session);
      if (sessions.size === 0) {
        this.sessionsByUser.delete(userId);
        this.sendBuckets.delete(userId);
        const sub = this.userTopics.get(userId);
        this.userTopics.delete(userId);
        if (sub) work.push(sub.unsubscribe());
      }
    }
    if (session.presenceCounted) {
      session.presenceCounted = false;
      work.push(
        this.deps.presence.disconnect(userId).then((offline) => {
          if (offline) this.publishPresence(userId, 'offline');
        }),
      );
    }
    const results = await Promise.allSettled(work);
    for (const r of results) {
      if (r.status === 'rejected') this.deps.log.warn({ err: r.reason }, 'detach step failed');
    }
  }

  /**
   * True when `state`, read after epoch `mark`, misses no live message of its topic: the
   * topic was subscribed before the read began and has carried nothing past its lastSeq.
   */
  private caughtUp(state: ConversationState, mark: number): boolean {
    const topic = this.convTopics.get(state.id);
    return topic?.readyAt !== undefined && topic.readyAt < mark && topic.order.highest <= state.lastSeq;
  }

  // --- local index ---------------------------------------------------------------------

  private async subscribeUser(userId: UserId): Promise<void> {
    let sub = this.userTopics.get(userId);
    if (!sub) {
      sub = this.deps.bus.subscribe(userTopic(userId), (payload) => this.onUserEvent(userId, payload));
      this.userTopics.set(userId, sub);
    }
    await sub.ready;
  }

  /** Adds the session to a conversation's local set; true when the topic was newly subscribed. */
  private async joinLocal(session: Session, conv: ConversationId): Promise<boolean> {
    if (session.closed || session.convs.has(conv)) return false;
    session.convs.add(conv);
    let topic = this.convTopics.get(conv);
    const created = !topic;
    if (!topic) {
      const sessions = new Set<Session>();
      const added: ConvTopic = {
        sessions,
        subscription: this.deps.bus.subscribe(convTopic(conv), (payload) => this.onConvEvent(conv, payload)),
        order: new SeqOrder((frame) => {
          for (const s of sessions) s.enqueue(frame);
        }, this.options.reorderWindowMs),
      };
      added.subscription.ready.then(
        () => {
          added.readyAt = ++this.epoch;
        },
        () => {},
      );
      topic = added;
      this.convTopics.set(conv, topic);
    }
    topic.sessions.add(session);
    await topic.subscription.ready;
    return created;
  }

  private async leaveLocal(session: Session, conv: ConversationId): Promise<void> {
    session.convs.delete(conv);
    const topic = this.convTopics.get(conv);
    if (!topic) return;
    topic.sessions.delete(session);
    if (topic.sessions.size === 0) {
      this.convTopics.delete(conv);
      topic.order.close();
      await topic.subscription.unsubscribe();
    }
  }

  /** Watches the presence of everyone the user shares a DM or group with; returns them. */
  private watchContacts(
    session: Session,
    states: Pick<ConversationState, 'kind' | 'memberIds'>[],
  ): Set<UserId> {
    const contacts = new Set<UserId>();
    for (const state of states) {
      if (state.kind === 'channel') continue;
      for (const id of state.memberIds) if (id !== session.user.id) contacts.add(id);
    }
    for (const id of contacts) this.watch(session, id);
    return contacts;
  }

  private watch(session: Session, userId: UserId): void {
    if (session.watching.has(userId)) return;
    session.watching.add(userId);
    let set = this.watchers.get(userId);
    if (!set) {
      set = new Set();
      this.watchers.set(userId, set);
    }
    set.add(session);
  }

  // --- client frames -------------------------------------------------------------------

  private onMessage(session: Session, data: RawData, isBinary: boolean): void {
    if (session.closed) return;
    if (isBinary) {
      session.sendError('invalid_frame', 'binary frames are not accepted');
      return;
    }
    const result = parseClientFrame(data.toString());
    if (!result.ok) {
      framesIn.inc({ type: 'invalid' });
      session.sendError(result.code, result.message, result.ref);
      return;
    }
    framesIn.inc({ type: result.frame.type });
    // Frames sent before `ready` wait for the session's state to be loaded.
    const setup = this.setups.get(session);
    if (!session.ready && setup) {
      void setup.then(() => this.handle(session, result.frame));
      return;
    }
    this.handle(session, result.frame);
  }

  private handle(session: Session, frame: ClientFrame): void {
    if (session.closed) return;
    switch (frame.type) {
      case 'ping':
        session.send(
          frame.ref === undefined
            ? { type: 'pong', serverTime: Date.now() }
            : { type: 'pong', ref: frame.ref, serverTime: Date.now() },
        );
        return;
      case 'send':
        void this.handleSend(session, frame.conv, frame.clientMsgId, frame.body);
        return;
      case 'typing':
        void this.handleTyping(session, frame.conv, frame.ref);
        return;
      case 'read':
        this.deps.core.markRead(session.user.id, frame.conv, frame.seq, session.id).catch((err: unknown) => {
          session.fail(err, frame.ref);
        });
        return;
      case 'auth':
        void this.handleAuth(session, frame.token, frame.ref);
        return;
    }
  }

  private async handleSend(
    session: Session,
    conv: ConversationId,
    clientMsgId: string,
    body: string,
  ): Promise<void> {
    const userId = session.user.id;
    let bucket = this.sendBuckets.get(userId);
    if (!bucket) {
      bucket = new TokenBucket(this.options.sendRatePerSec, this.options.sendBurst);
      this.sendBuckets.set(userId, bucket);
    }
    if (!bucket.take()) {
      const wait = Math.ceil(bucket.retryAfterSec() * 1000);
      session.sendError('rate_limited', `sending too fast; retry in ${wait} ms`, clientMsgId, wait);
      return;
    }
    try {
      if (!(await this.isMember(session, conv))) throw new ChatError('not_member');
      const { ack } = await this.deps.core.send(userId, conv, clientMsgId, body);
      session.send(ack);
    } catch (err) {
      const error = toChatError(err);
      if (error.code === 'internal') this.deps.log.error({ err, conv }, 'send failed');
      session.fail(error, clientMsgId);
    }
  }

  private async handleTyping(session: Session, conv: ConversationId, ref: string | undefined): Promise<void> {
    if (!(await this.isMember(session, conv))) {
      session.sendError('not_member', 'you are not a member of this conversation', ref);
      return;
    }
    if (!session.allowTyping(conv, Date.now(), this.options.typingIntervalMs ?? 1500)) return;
    const frame: TypingEventFrame = { type: 'typing', conv, user: session.user.id };
    this.publish(
      convTopic(conv),
      encodeEvent({ kind: 't', user: session.user.id, frame: JSON.stringify(frame) }),
    );
  }

  private async handleAuth(session: Session, token: string, ref: string | undefined): Promise<void> {
    try {
      const claims = await this.deps.verify(token);
      if (claims.userId !== session.user.id) {
        session.sendError('unauthorized', 'the token belongs to another user', ref);
        session.closeWith('unauthorized');
        return;
      }
      session.token = token;
      session.tokenExpiresAt = claims.exp * 1000;
    } catch (err) {
      session.fail(err, ref);
    }
  }

  /** Membership from the local index; a miss is checked in the store (a join may be in flight). */
  private async isMember(session: Session, conv: ConversationId): Promise<boolean> {
    if (session.convs.has(conv)) return true;
    if (!(await this.deps.store.isMember(conv, session.user.id))) return false;
    await this.joinLocal(session, conv);
    return true;
  }

  // --- bus events ----------------------------------------------------------------------

  private onConvEvent(conv: ConversationId, payload: string): void {
    const topic = this.convTopics.get(conv);
    const event = decodeEvent(payload);
    if (!topic || !event) return;
    const frame = textFrame(event.frame);
    if (event.kind === 't') {
      for (const session of topic.sessions) if (session.user.id !== event.user) session.enqueue(frame, true);
      return;
    }
    const seq = event.kind === 'm' ? seqOfMessageFrame(event.frame) : undefined;
    if (seq !== undefined) {
      topic.order.push(seq, frame);
      return;
    }
    for (const session of topic.sessions) session.enqueue(frame);
  }

  private onUserEvent(userId: UserId, payload: string): void {
    const sessions = this.sessionsByUser.get(userId);
    const event = decodeEvent(payload);
    if (!sessions || !event) return;
    if (event.kind === 'r') {
      const frame = textFrame(event.frame);
      for (const session of sessions) if (session.id !== event.origin) session.enqueue(frame);
    } else if (event.kind === 'j') {
      const parsed = JSON.parse(event.frame) as ConversationFrame;
      const frame = textFrame(event.frame);
      for (const session of sessions) {
        this.watchContacts(session, [
          { kind: parsed.conversation.kind, memberIds: parsed.conversation.members.map((m) => m.id) },
        ]);
        void this.joinLocal(session, event.conv).then(() => session.enqueue(frame));
      }
    } else if (event.kind === 'l') {
      const frame = textFrame(event.frame);
      for (const session of sessions) {
        session.enqueue(frame);
        void this.leaveLocal(session, event.conv);
      }
    }
  }

  private onPresenceEvent(payload: string): void {
    const event = decodeEvent(payload);
    if (event?.kind !== 'p') return;
    const sessions = this.watchers.get(event.user);
    if (!sessions || sessions.size === 0) return;
    const frame = textFrame(event.frame);
    for (const session of sessions) session.enqueue(frame, true);
  }

  private publishPresence(userId: UserId, status: PresenceStatus): void {
    const frame: PresenceFrame = { type: 'presence', user: userId, status };
    this.publish(PRESENCE_TOPIC, encodeEvent({ kind: 'p', user: userId, frame: JSON.stringify(frame) }));
  }

  private publish(topic: string, payload: string): void {
    this.deps.bus.publish(topic, payload).catch((err: unknown) => {
      this.deps.log.warn({ err, topic }, 'publish failed');
    });
  }

  /**
   * After the bus was down, live events may have been lost. Every client is asked to
   * reconnect (1012): on `ready` it fetches each conversation's gap from the store.
   */
  private resync(): void {
    this.deps.log.warn('bus recovered; asking clients to resume from the store');
    for (const sessions of this.sessionsByUser.values()) {
      for (const session of sessions) session.closeWith('server_shutting_down');
    }
  }

  // --- writing -------------------------------------------------------------------------

  /**
   * FlushScheduler: one write pass over the sessions with frames every `flushIntervalMs`.
   * At fan-out rates each bus event arrives in its own event-loop turn, so flushing per turn
   * would still be one write per delivery; a short window lets every socket take all of the
   * window's frames in one write. The window stretches by itself under load (the timer
   * fires only when the loop is free), which is when coalescing pays most.
   */
  markDirty(session: Session): void {
    this.dirty.add(session);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    const ms = this.options.flushIntervalMs;
    if (ms > 0) setTimeout(() => this.flushAll(), ms);
    else setImmediate(() => this.flushAll());
  }

  private flushAll(): void {
    this.flushScheduled = false;
    let frames = 0;
    for (const session of this.dirty) frames += session.flush();
    this.dirty.clear();
    if (frames > 0) deliveries.inc(frames);
  }

  private beat(): void {
    const now = Date.now();
    for (const sessions of this.sessionsByUser.values()) {
      for (const session of sessions) {
        if (session.isLagging(now)) {
          session.closeWith('slow_consumer');
          continue;
        }
        if (!session.alive) {
          session.ws.terminate();
          continue;
        }
        session.alive = false;
        session.ws.ping();
      }
    }
  }
}
