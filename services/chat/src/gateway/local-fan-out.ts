import type { ConversationId, UserId } from '@relay-chat/protocol';
import type { Logger } from '@relay-chat/service-kit';
import { convTopic, decodeEvent, PRESENCE_TOPIC, userTopic } from '../events.js';
import type { FlushScheduler } from './flush-scheduler.js';
import type { PresenceWatch } from './presence-watch.js';
import { SeqOrder } from './seq-order.js';
import type { Session } from './session.js';
import type { SessionRegistry } from './session-registry.js';
import { textFrame } from './ws-frame.js';

/** A subscription to one bus topic (see bus/bus.ts). */
export interface TopicSubscription {
  ready: Promise<void>;
  unsubscribe(): Promise<void>;
}

/** What the fan-out needs from the bus. */
export interface FanOutBus {
  subscribe(topic: string, listener: (payload: string) => void): TopicSubscription;
}

export interface LocalFanOutOptions {
  /** Longest a live message that overtook a missing seq waits for it, ms (0 = never). */
  reorderWindowMs: number;
  /** Most messages one conversation holds back at once; past it all are released. */
  reorderMaxHeld: number;
}

interface ConvTopic {
  sessions: Set<Session>;
  subscription: TopicSubscription;
  /** Live messages, in seq order, to `sessions`. */
  order: SeqOrder;
  /** Epoch at which the subscription became ready (see `caughtUp`). */
  readyAt?: number;
  /** The highest `changeSeq` of a change that passed through the topic (see `caughtUp`). */
  highestChange: number;
}

/** The part of a conversation's stored state the connect set-up checks against live traffic. */
export interface SeenState {
  id: ConversationId;
  lastSeq: number;
  /** The conversation's change counter as read (protocol v1.2). */
  lastChangeSeq: number;
}

/**
 * This replica's local index of who receives what, and the delivery of bus events to it:
 * each conversation's topic is subscribed while at least one local member's session is
 * connected, each connected user's own topic likewise, and the presence topic always.
 * Events are routed from their envelope (events.ts) and their frame bytes handed as they
 * are to the sessions, through the FlushScheduler; messages go out in seq order
 * (SeqOrder), changes of messages as they come. Presence transitions and new contacts go to the PresenceWatch. Nothing here
 * reads the store or talks back to the pieces that call it.
 */
export class LocalFanOut {
  private readonly convTopics = new Map<ConversationId, ConvTopic>();
  private readonly userTopics = new Map<UserId, TopicSubscription>();
  private readonly presenceSubscription: TopicSubscription;
  /** Orders topic readiness against session state reads (see `caughtUp`). */
  private epoch = 0;

  constructor(
    private readonly deps: {
      bus: FanOutBus;
      registry: SessionRegistry;
      scheduler: FlushScheduler;
      presenceWatch: PresenceWatch;
      log: Logger;
    },
    private readonly options: LocalFanOutOptions,
  ) {
    this.presenceSubscription = deps.bus.subscribe(PRESENCE_TOPIC, (payload) => this.onPresence(payload));
  }

  /** Resolves when the presence topic is subscribed. */
  ready(): Promise<void> {
    return this.presenceSubscription.ready;
  }

  /** A new epoch, taken just before a state read that `caughtUp` will judge. */
  mark(): number {
    return ++this.epoch;
  }

  /** Subscribes the user's own topic (read markers, membership changes) while they are connected. */
  subscribeUser(userId: UserId): Promise<void> {
    let sub = this.userTopics.get(userId);
    if (!sub) {
      sub = this.deps.bus.subscribe(userTopic(userId), (payload) => this.onUserEvent(userId, payload));
      this.userTopics.set(userId, sub);
    }
    return sub.ready;
  }

  /**
   * Adds the session to a conversation's local set — synchronously, so from the call on
   * it gets every live message of the topic — and resolves once the topic is subscribed.
   */
  join(session: Session, conv: ConversationId): Promise<void> {
    if (session.closed || !session.addConversation(conv)) return Promise.resolve();
    let topic = this.convTopics.get(conv);
    if (!topic) {
      const sessions = new Set<Session>();
      const { scheduler } = this.deps;
      const added: ConvTopic = {
        sessions,
        subscription: this.deps.bus.subscribe(convTopic(conv), (payload) => this.onConvEvent(conv, payload)),
        order: new SeqOrder(
          (frame) => {
            for (const s of sessions) scheduler.deliver(s, frame);
          },
          this.options.reorderWindowMs,
          this.options.reorderMaxHeld,
        ),
        highestChange: 0,
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
    return topic.subscription.ready;
  }

  leave(session: Session, conv: ConversationId): Promise<void> {
    session.removeConversation(conv);
    const topic = this.convTopics.get(conv);
    if (!topic?.sessions.delete(session) || topic.sessions.size > 0) return Promise.resolve();
    this.convTopics.delete(conv);
    topic.order.close();
    return topic.subscription.unsubscribe();
  }

  /** Delivers `users`' presence transitions to the session from now on (their status now is the caller's to tell). */
  watch(session: Session, users: Iterable<UserId>): void {
    this.deps.presenceWatch.watch(session, users);
  }

  /**
   * True when `state`, read after epoch `mark`, misses no live message or change of its
   * topic: the topic was subscribed before the read began and has carried nothing past its
   * lastSeq, and no change past its lastChangeSeq (a change that went by before the session
   * joined would otherwise reach it neither live nor through `ready`'s lastChangeSeq).
   */
  caughtUp(state: SeenState, mark: number): boolean {
    const topic = this.convTopics.get(state.id);
    return (
      topic?.readyAt !== undefined &&
      topic.readyAt < mark &&
      topic.order.highest <= state.lastSeq &&
      topic.highestChange <= state.lastChangeSeq
    );
  }

  /** Live messages of `conv` continue the stored ones from `nextSeq`. */
  expect(conv: ConversationId, nextSeq: number): void {
    this.convTopics.get(conv)?.order.expect(nextSeq);
  }

  /**
   * Removes a closed session from every local set; `lastOfUser` when it was the user's
   * last session here (their topic is released). Resolves when the unsubscribes are done.
   */
  async detach(session: Session, lastOfUser: boolean): Promise<void> {
    const work: Promise<unknown>[] = [];
    for (const conv of [...session.conversations()]) work.push(this.leave(session, conv));
    this.deps.presenceWatch.forget(session);
    if (lastOfUser) {
      const sub = this.userTopics.get(session.user.id);
      this.userTopics.delete(session.user.id);
      if (sub) work.push(sub.unsubscribe());
    }
    const results = await Promise.allSettled(work);
    for (const r of results) {
      if (r.status === 'rejected') this.deps.log.warn({ err: r.reason }, 'unsubscribe failed');
    }
  }

  /** Releases every subscription. */
  async close(): Promise<void> {
    for (const topic of this.convTopics.values()) topic.order.close();
    await Promise.allSettled([
      this.presenceSubscription.unsubscribe(),
      ...[...this.userTopics.values()].map((s) => s.unsubscribe()),
      ...[...this.convTopics.values()].map((t) => t.subscription.unsubscribe()),
    ]);
  }

  // --- bus events ----------------------------------------------------------------------

  private onConvEvent(conv: ConversationId, payload: string): void {
    const topic = this.convTopics.get(conv);
    const event = decodeEvent(payload);
    if (!topic || !event) return;
    const { scheduler } = this.deps;
    switch (event.kind) {
      case 'message':
        topic.order.push(event.seq, textFrame(event.frame));
        return;
      case 'change': {
        // As it arrives, to every member's sockets (the actor's own included): a change
        // carries the message's whole state and clients order changes by changeSeq, so it
        // does not wait behind missing message seqs.
        if (event.changeSeq > topic.highestChange) topic.highestChange = event.changeSeq;
        const frame = textFrame(event.frame);
        for (const s of topic.sessions) scheduler.deliver(s, frame);
        return;
      }
      case 'typing': {
        const frame = textFrame(event.frame);
        for (const s of topic.sessions) if (s.user.id !== event.user) scheduler.deliver(s, frame, true);
        return;
      }
      case 'conversation': {
        const frame = textFrame(event.frame);
        for (const s of topic.sessions) scheduler.deliver(s, frame);
        // Someone joined a DM or group: its members watch them from now on, told their status now.
        this.deps.presenceWatch.watchAndTell(topic.sessions, event.watch);
        return;
      }
      default:
        this.deps.log.debug({ kind: event.kind, conv }, 'unexpected event on a conversation topic');
    }
  }

  private onUserEvent(userId: UserId, payload: string): void {
    const sessions = this.deps.registry.ofUser(userId);
    const event = decodeEvent(payload);
    if (sessions.size === 0 || !event) return;
    const { scheduler } = this.deps;
    switch (event.kind) {
      case 'read': {
        const frame = textFrame(event.frame);
        for (const s of sessions) if (s.id !== event.origin) scheduler.deliver(s, frame);
        return;
      }
      case 'joined': {
        const frame = textFrame(event.frame);
        // New contacts (the other members of a DM or group): watched from now on, and their
        // status now is told, so presence is right from the start.
        this.deps.presenceWatch.watchAndTell(sessions, event.contacts);
        for (const s of sessions) {
          void this.join(s, event.conv).then(
            () => scheduler.deliver(s, frame),
            (err: unknown) => {
              this.deps.log.warn({ err, conv: event.conv }, 'subscribing a joined conversation failed');
              s.closeWith('unavailable');
            },
          );
        }
        return;
      }
      case 'left': {
        const frame = textFrame(event.frame);
        for (const s of sessions) {
          scheduler.deliver(s, frame);
          void this.leave(s, event.conv);
        }
        return;
      }
      case 'settings': {
        const frame = textFrame(event.frame);
        for (const s of sessions) scheduler.deliver(s, frame);
        return;
      }
      default:
        this.deps.log.debug({ kind: event.kind }, 'unexpected event on a user topic');
    }
  }

  private onPresence(payload: string): void {
    const event = decodeEvent(payload);
    if (event?.kind !== 'presence') return;
    this.deps.presenceWatch.deliver(event.user, textFrame(event.frame));
  }
}
