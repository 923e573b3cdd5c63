import {
  ChatError,
  type ConnectionLimits,
  PROTOCOL_VERSION,
  type PresenceFrame,
  type PresenceStatus,
  type ReadyFrame,
  type UserId,
} from '@relay-chat/protocol';
import { type Logger, toServiceError, withDeadline } from '@relay-chat/service-kit';
import type { ChatCore } from '../chat.js';
import { encodeEvent, PRESENCE_TOPIC } from '../events.js';
import type { ConversationState } from '../store/message-store.js';
import type { FlushScheduler } from './flush-scheduler.js';
import type { LocalFanOut } from './local-fan-out.js';
import type { Session } from './session.js';
import type { SessionRegistry } from './session-registry.js';

/** What the life cycle needs from the presence registry (see presence/). */
export interface LifecyclePresence {
  connect(userId: UserId): Promise<boolean>;
  disconnect(userId: UserId): Promise<boolean>;
  onlineAmong(userIds: UserId[]): Promise<Set<UserId>>;
  onChange(handler: (userId: UserId, status: PresenceStatus) => void): void;
}

export interface LifecycleBus {
  publish(topic: string, payload: string): Promise<void>;
}

export interface SessionLifecycleOptions {
  /** Longest wait for the broker while setting a session up, ms; past it the session closes `unavailable`. */
  brokerWaitMs: number;
  /** The budgets `ready` announces (the gateway and core enforce them). */
  limits: ConnectionLimits;
}

/**
 * A session's set-up and tear-down: on connect it reads the user's conversations, joins
 * the local fan-out without a window in which a message could be missed, counts the
 * device in the presence registry and sends `ready`; on close it undoes all of that.
 * Presence transitions found on the way are published to the user's contacts.
 */
export class SessionLifecycle {
  constructor(
    private readonly deps: {
      core: ChatCore;
      fanOut: LocalFanOut;
      registry: SessionRegistry;
      scheduler: FlushScheduler;
      presence: LifecyclePresence;
      bus: LifecycleBus;
      log: Logger;
    },
    private readonly options: SessionLifecycleOptions,
  ) {
    deps.presence.onChange((userId, status) => this.announce(userId, status));
  }

  /** Sets a new session up; closes it with a typed error when that fails. */
  start(session: Session): void {
    this.deps.registry.add(session);
    this.deps.core.directory.remember(session.user);
    this.setUp(session).catch((err: unknown) => {
      const error = toServiceError(err);
      if (error.code === 'internal')
        this.deps.log.warn({ err, user: session.user.id }, 'session setup failed');
      session.closeWith(error.code === 'internal' ? 'internal' : 'unavailable');
    });
  }

  /** Tears a closed session down; safe to call more than once. */
  async end(session: Session): Promise<void> {
    session.markClosed();
    this.deps.scheduler.forget(session);
    const removed = this.deps.registry.remove(session);
    const work: Promise<unknown>[] = [];
    if (removed) work.push(this.deps.fanOut.detach(session, removed.last));
    if (session.takePresenceCount()) work.push(this.uncount(session.user.id));
    await Promise.allSettled(work);
  }

  /**
   * Reads the user's conversations, then joins the local index (subscribing where needed),
   * and makes sure nothing falls between the two: a message (or a change of one) committed
   * after the read reaches this session live, or the state is read again. One read is enough
   * when every conversation's topic was already subscribed before the read started and no
   * live message past the read's lastSeq, nor change past its lastChangeSeq, has passed
   * through it since — the common case of a
   * busy replica. Otherwise (a topic subscribed just now, or a message in between) the
   * state is read again after joining, which is then complete by the same argument.
   */
  private async setUp(session: Session): Promise<void> {
    const { core, fanOut, presence } = this.deps;
    const userId = session.user.id;
    await this.brokerWait(fanOut.subscribeUser(userId));
    // A user's first visit joins the default channels, before their state is read.
    await core.welcome(userId, session.token.token);
    if (session.closed) return;
    const mark = fanOut.mark();
    let states = await core.conversationStatesOf(userId);
    if (session.closed) return;
    // join adds the session to each topic synchronously: from here on it gets every live
    // message, so the check below sees everything that could have been missed.
    const joins = states.map((s) => fanOut.join(session, s.id));
    const complete = states.every((s) => fanOut.caughtUp(s, mark));
    await this.brokerWait(Promise.all(joins));
    if (!complete) {
      states = await core.conversationStatesOf(userId);
      if (session.closed) return;
      await this.brokerWait(Promise.all(states.map((s) => fanOut.join(session, s.id))));
    }
    // Live messages from here on continue the stored ones.
    for (const state of states) fanOut.expect(state.id, state.lastSeq + 1);
    const contacts = contactsOf(userId, states);
    fanOut.watch(session, contacts);
    const becameOnline = await presence.connect(userId);
    session.markCountedInPresence();
    if (becameOnline) this.announce(userId, 'online');
    if (session.closed) {
      if (session.takePresenceCount()) await this.uncount(userId);
      return;
    }
    const [online, view] = await Promise.all([
      presence.onlineAmong([...contacts]),
      core.readyView(states, session.token.token),
    ]);
    const ready: ReadyFrame = {
      type: 'ready',
      v: PROTOCOL_VERSION,
      user: session.user,
      conversations: view.conversations,
      nextCursor: view.nextCursor,
      online: [...online],
      serverTime: Date.now(),
      limits: this.options.limits,
    };
    if (session.sendReady(ready)) this.deps.scheduler.schedule(session);
  }

  private brokerWait<T>(promise: Promise<T>): Promise<T> {
    return withDeadline(
      promise,
      this.options.brokerWaitMs,
      () => new ChatError('unavailable', 'the message broker is not answering'),
    );
  }

  private async uncount(userId: UserId): Promise<void> {
    try {
      if (await this.deps.presence.disconnect(userId)) this.announce(userId, 'offline');
    } catch (err) {
      this.deps.log.warn({ err, user: userId }, 'presence disconnect failed');
    }
  }

  private announce(userId: UserId, status: PresenceStatus): void {
    const frame: PresenceFrame = { type: 'presence', user: userId, status };
    this.deps.bus
      .publish(PRESENCE_TOPIC, encodeEvent({ kind: 'presence', user: userId, frame: JSON.stringify(frame) }))
      .catch((err: unknown) => this.deps.log.warn({ err }, 'presence publish failed'));
  }
}

/** Everyone the user shares a DM or group with (channels are public: their members are not contacts). */
function contactsOf(
  userId: UserId,
  states: readonly Pick<ConversationState, 'kind' | 'memberIds'>[],
): Set<UserId> {
  const contacts = new Set<UserId>();
  for (const state of states) {
    if (state.kind === 'channel') continue;
    for (const id of state.memberIds) if (id !== userId) contacts.add(id);
  }
  return contacts;
}
